"""What a property name suggests its value is (``city``, ``price``, ``email``...)."""

from __future__ import annotations

import random
import re
import uuid

from mockserver.sources.schema_instances.formats import _format_values, _rand_date, _rand_time
from mockserver.sources.schema_instances.pools import _POOL_MAKERS, _pick, _pool


_LOCATIONS = (
    "Paris, France", "Tokyo, Japan", "New York, USA", "London, UK", "Berlin, Germany",
    "Sydney, Australia", "Toronto, Canada", "Madrid, Spain", "Rome, Italy", "Lisbon, Portugal",
    "Amsterdam, Netherlands", "Seoul, South Korea", "Mumbai, India", "Cairo, Egypt",
    "Mexico City, Mexico", "Buenos Aires, Argentina", "Nairobi, Kenya", "Oslo, Norway",
    "Dublin, Ireland", "Singapore, Singapore",
)
_SQL = (
    "SELECT id, name FROM customers WHERE country = 'France' LIMIT 10",
    "SELECT COUNT(*) FROM orders WHERE status = 'shipped'",
    "SELECT product_id, SUM(quantity) FROM order_items GROUP BY product_id",
    "SELECT * FROM invoices ORDER BY created_at DESC LIMIT 5",
)

_HINT_ALIASES: dict[str, str] = {}
for _kind, _names in {
    "city": "city town city_name",
    "country": "country country_name nation",
    "country_code": "country_code",
    "state": "state region province state_name",
    "name": "name full_name fullname display_name customer_name contact_name person author",
    "first_name": "first_name firstname given_name forename",
    "last_name": "last_name lastname surname family_name",
    "user_name": "username user_name login handle screen_name",
    "email": "email email_address mail e_mail recipient sender",
    "phone": "phone phone_number telephone mobile tel cell phonenumber",
    "street": "street street_address address_line address_line1 address1 line1",
    "address": "address full_address postal_address mailing_address",
    "postcode": "zip zip_code zipcode postal_code postcode post_code postalcode",
    "company": "company company_name organization organisation employer business",
    "url": "url website homepage link href web_site site_url uri",
    "domain": "domain domain_name hostname host",
    "date": "date birthday birth_date dob day due_date start_date end_date",
    "datetime": "datetime timestamp created updated date_time",
    "time": "time start_time end_time",
    "id": "id uuid guid identifier",
    "title": "title subject headline heading",
    "sentence": "description summary details bio about notes note comment message "
                "content text body reason explanation instructions feedback review",
    "unit": "unit units unit_system temperature_unit",
    "location": "location place destination origin venue where",
    "temperature": "temperature temp",
    "price": "price amount cost total subtotal balance fee charge refund_amount",
    "currency": "currency currency_code",
    "language": "language lang",
    "language_code": "language_code lang_code source_language target_language locale",
    "query": "query search search_query keywords q search_term term prompt question",
    "sql": "sql sql_query statement",
    "latitude": "latitude lat",
    "longitude": "longitude lon lng long",
    "age": "age",
    "quantity": "quantity qty count limit num_results max_results page_size top_k n guests nights",
    "year": "year",
    "rating": "rating stars score",
    "percent": "percent percentage",
    "color": "color colour",
    "timezone": "timezone time_zone tz",
    "job": "job job_title occupation position",
    "file_name": "file_name filename",
    "file_path": "path file_path filepath directory dir",
    "ipv4": "ip ip_address ipv4",
}.items():
    for _n in _names.split():
        _HINT_ALIASES[_n] = _kind

# Numeric hints: (low, high, decimals; 0 means an integer reads best).
_NUM_HINTS = {
    "temperature": (-10, 35, 1), "price": (1, 500, 2), "latitude": (-90, 90, 4),
    "longitude": (-180, 180, 4), "age": (18, 90, 0), "quantity": (1, 10, 0),
    "year": (1990, 2030, 0), "rating": (1, 5, 1), "percent": (0, 100, 1), "id": (1, 99999, 0),
}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _hint_kind(name: str | None) -> str | None:
    """What a property name suggests its value is, or None."""
    if not name:
        return None
    hit = _HINT_CACHE.get(name)
    if hit is not None or name in _HINT_CACHE:
        return hit
    key = _CAMEL.sub("_", name).lower().replace("-", "_").replace(" ", "_").strip("_")
    kind = _HINT_ALIASES.get(key)
    if kind is None:
        toks = key.split("_")
        if len(toks) > 1:
            kind = _HINT_ALIASES.get("_".join(toks[-2:]))
            last = toks[-1]
            if kind is None and last not in ("name", "type", "code", "long"):
                kind = _HINT_ALIASES.get(last)
            if kind is None:
                if last == "id":
                    kind = "id"
                elif last in ("at", "on") or last == "timestamp":
                    kind = "datetime"
                elif last == "date":
                    kind = "date"
    if len(_HINT_CACHE) > 4096:
        _HINT_CACHE.clear()
    _HINT_CACHE[name] = kind
    return kind


_HINT_CACHE: dict[str, str | None] = {}


def _singular(name: str | None) -> str | None:
    """``cities`` -> ``city`` so array items inherit their property's hint."""
    if not name:
        return None
    if name.endswith("ies") and len(name) > 4:
        return name[:-3] + "y"
    if name.endswith(("sses", "shes", "ches", "xes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return None


def _hint_strings(kind: str, rng: random.Random) -> list[str]:
    if kind == "language":  # a name reads best; a code fits `^[a-z]{2}$`-style constraints
        return [_pick(rng, "language"), _pick(rng, "language_code"), "en"]
    if kind in _POOL_MAKERS:
        pool = _pool(kind)
        n = len(pool)
        i = rng.randrange(n)
        return [pool[i], pool[(i + 7) % n], pool[(i + 31) % n]]
    if kind == "id":
        return [str(uuid.UUID(int=rng.getrandbits(128), version=4))]
    if kind == "date":
        return [_rand_date(rng).isoformat()]
    if kind == "datetime":
        return [f"{_rand_date(rng).isoformat()}T{_rand_time(rng)}Z"]
    if kind == "time":
        return [_rand_time(rng)[:5]]
    if kind == "location":
        i = rng.randrange(len(_LOCATIONS))
        return [_LOCATIONS[i], _LOCATIONS[(i + 1) % len(_LOCATIONS)]]
    if kind == "unit":
        return ["celsius", "metric"]
    if kind == "sql":
        return [_SQL[rng.randrange(len(_SQL))]]
    if kind == "ipv4":
        return _format_values("ipv4", rng)
    return []


_STRING_HINT_KINDS = frozenset(_POOL_MAKERS) | {
    "id", "date", "datetime", "time", "location", "unit", "sql", "ipv4",
}


// The official openai JavaScript SDK against a running mockserver, both contracts.
//
//   node script.mjs http://127.0.0.1:8080
//
// ARK (base URL <root>/v1): a completion, a stream, a two-turn thread.
// Multimedia (base URL <root>): a completion, a stream, a tool call, structured
// output, and the default-streaming check. The ARK contract has no tools and no
// response_format (the mock ignores such unknown fields there and answers text),
// so those two are exercised on multimedia only. Prints one JSON summary on
// stdout; exits 1 on any error.
import OpenAI from "openai";
import { readFileSync } from "node:fs";

const root = (process.argv[2] || "").replace(/\/+$/, "");
if (!root) {
  console.error("usage: node script.mjs <mockserver root URL>");
  process.exit(2);
}
// The SDK's package.json is not in its "exports": read it from node_modules beside this script.
const sdkVersion = JSON.parse(readFileSync(new URL("./node_modules/openai/package.json", import.meta.url), "utf8")).version;

const USER = [{ role: "user", content: "Hello there, friend!" }];
const WEATHER = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather for a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
      required: ["city", "unit"],
      additionalProperties: false,
    },
  },
};
const REVIEW = {
  name: "review",
  strict: true,
  schema: {
    type: "object",
    properties: {
      title: { type: "string" },
      rating: { type: "integer", minimum: 1, maximum: 5 },
      tags: { type: "array", items: { type: "string" } },
    },
    required: ["title", "rating", "tags"],
    additionalProperties: false,
  },
};

function client(baseURL) {
  // max_retries 0: an error reaches us at once. In a browser, add dangerouslyAllowBrowser: true.
  return new OpenAI({ baseURL, apiKey: "test-key", maxRetries: 0 });
}

async function completion(c, model, extra = {}) {
  const r = await c.chat.completions.create({ model, messages: USER, ...extra });
  const choice = r.choices[0];
  return {
    object: r.object,
    id: r.id,
    model: r.model,
    content: choice.message.content,
    finish_reason: choice.finish_reason,
    prompt_tokens: r.usage.prompt_tokens,
    completion_tokens: r.usage.completion_tokens,
    total_tokens: r.usage.total_tokens,
  };
}

async function streamed(c, model) {
  const stream = await c.chat.completions.create({ model, messages: USER, stream: true });
  let text = "";
  let chunks = 0;
  let role = null;
  const finishes = [];
  const objects = new Set();
  for await (const chunk of stream) {
    chunks += 1;
    objects.add(chunk.object);
    const choice = chunk.choices[0];
    if (!choice) continue;
    if (choice.delta.role) role = choice.delta.role;
    text += choice.delta.content ?? "";
    if (choice.finish_reason) finishes.push(choice.finish_reason);
  }
  return { chunks, role, text, finish_reasons: finishes, objects: [...objects] };
}

async function ark(base) {
  const c = client(base);
  const out = {};
  out.completion = await completion(c, "ark-reason");
  out.stream = await streamed(c, "ark-reason");
  // ARK threads: thread_id is an extension of the ARK contract (the SDK passes unknown keys through).
  const thread = `js-sdk-${Date.now()}`;
  const first = await completion(c, "ark-reason", { thread_id: thread });
  const second = await completion(c, "ark-reason", { thread_id: thread });
  out.thread = { first_prompt_tokens: first.prompt_tokens, second_prompt_tokens: second.prompt_tokens };
  return out;
}

async function multimedia(base) {
  const c = client(base);
  const out = {};
  // The multimedia contract streams by default: ask for JSON with stream: false.
  out.completion = await completion(c, "gpt-4o", { stream: false });
  out.stream = await streamed(c, "gpt-4o");
  const raw = await c.chat.completions.create({ model: "gpt-4o", messages: USER }).asResponse();
  out.default_content_type = raw.headers.get("content-type");
  await raw.text();

  const tool = await c.chat.completions.create({
    model: "gpt-4o",
    stream: false,
    messages: [{ role: "user", content: "What's the weather in Paris?" }],
    tools: [WEATHER],
    tool_choice: "required",
  });
  const call = tool.choices[0].message.tool_calls[0];
  out.tool_call = {
    finish_reason: tool.choices[0].finish_reason,
    count: tool.choices[0].message.tool_calls.length,
    id: call.id,
    type: call.type,
    name: call.function.name,
    arguments: JSON.parse(call.function.arguments),
  };

  const structured = await c.chat.completions.create({
    model: "gpt-4o",
    stream: false,
    messages: [{ role: "user", content: "Review the film." }],
    response_format: { type: "json_schema", json_schema: REVIEW },
  });
  const doc = JSON.parse(structured.choices[0].message.content);
  out.structured = {
    finish_reason: structured.choices[0].finish_reason,
    document: doc,
    has_required: REVIEW.schema.required.every((key) => key in doc),
  };
  return out;
}

try {
  const summary = { sdk_version: sdkVersion, node: process.version };
  summary.ark = await ark(`${root}/v1`);
  summary.multimedia = await multimedia(root);
  console.log(JSON.stringify(summary));
} catch (err) {
  console.error(`failed: ${err?.constructor?.name}: ${err?.message}`);
  if (err?.error) console.error(JSON.stringify(err.error));
  process.exit(1);
}

// llama.cpp continuing a text greedily, through node-llama-cpp's prebuilt CPU binary: the
// reference for scripts/bench-generate.sh (speed) and tests/llama_cpp.rs (agreement). Prints
// one JSON line: the prompt's token ids, the new tokens, and the two phases timed as docent
// times them (prompt: until the first new token; decoding: each further token).
//
//   node llama-cpp-continue.mjs MODEL PROMPT_FILE PROMPT_TOKENS DECODE_TOKENS THREADS [f32-cache]
//
// With `f32-cache` the KV cache holds f32 (llama.cpp's default is f16) and attention is not
// fused, as in docent, so that the two engines differ only in the order of their additions;
// without it llama.cpp runs with its defaults (the speed comparison).
import { readFileSync } from "node:fs";
import { getLlama } from "node-llama-cpp";

const [modelPath, promptFile, promptTokens, decodeTokens, threads, cache] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath });
// The beginning-of-text token where the model asks for one, as docent adds it.
const bos = model.tokens.shouldPrependBosToken && model.tokens.bos != null ? [model.tokens.bos] : [];
const prompt = [...bos, ...model.tokenize(readFileSync(promptFile, "utf8"))].slice(0, Number(promptTokens));
const tokens = Number(decodeTokens);
const exact = cache === "f32-cache"
  ? { experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32", flashAttention: false }
  : {};
const context = await model.createContext({
  contextSize: prompt.length + tokens + 16,
  threads: Number(threads),
  batchSize: 512,
  ...exact,
});
const sequence = context.getSequence();

const started = performance.now();
let firstAt = 0;
const generated = [];
for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
  if (generated.length === 0) firstAt = performance.now();
  generated.push(token);
  if (generated.length > tokens) break;
}
const decodeMs = performance.now() - firstAt;
console.log(JSON.stringify({
  prompt_ids: prompt,
  tokens: generated.slice(0, tokens),
  prompt_tokens: prompt.length,
  prompt_tokens_per_s: (prompt.length / (firstAt - started)) * 1e3,
  decoded_tokens: tokens,
  decode_tokens_per_s: (tokens / decodeMs) * 1e3,
  peak_rss_mb: process.resourceUsage().maxRSS / 1024,
}));
await context.dispose();
await model.dispose();

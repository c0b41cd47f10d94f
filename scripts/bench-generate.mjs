// llama.cpp's side of scripts/bench-generate.sh, through node-llama-cpp's prebuilt CPU binary:
// the same GGUF continues the same text greedily, and the two phases are timed as docent times
// them (prompt: until the first new token; decoding: each further token).
//
//   node bench-generate.mjs MODEL PROMPT_FILE PROMPT_TOKENS DECODE_TOKENS THREADS
import { readFileSync } from "node:fs";
import { getLlama } from "node-llama-cpp";

const [modelPath, promptFile, promptTokens, decodeTokens, threads] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: "never" });
const model = await llama.loadModel({ modelPath });
const prompt = model.tokenize(readFileSync(promptFile, "utf8")).slice(0, Number(promptTokens));
const tokens = Number(decodeTokens);
const context = await model.createContext({
  contextSize: prompt.length + tokens + 16,
  threads: Number(threads),
  batchSize: 512,
});
const sequence = context.getSequence();

const started = performance.now();
let firstAt = 0;
let generated = 0;
for await (const _ of sequence.evaluate(prompt, { temperature: 0 })) {
  if (generated === 0) firstAt = performance.now();
  generated += 1;
  if (generated > tokens) break;
}
const decodeMs = performance.now() - firstAt;
console.log(JSON.stringify({
  prompt_tokens: prompt.length,
  prompt_tokens_per_s: (prompt.length / (firstAt - started)) * 1e3,
  decoded_tokens: tokens,
  decode_tokens_per_s: (tokens / decodeMs) * 1e3,
  peak_rss_mb: process.resourceUsage().maxRSS / 1024,
}));
await context.dispose();
await model.dispose();

export * from './chat-request.schema.js';
export * from './types.js';
export { adapterFor } from './adapter-registry.js';
export { ANTHROPIC_DEFAULT_MAX_TOKENS, ANTHROPIC_VERSION, anthropicAdapter } from './anthropic/anthropic.adapter.js';
export { geminiAdapter } from './gemini/gemini.adapter.js';
export { openAIAdapter } from './openai/openai.adapter.js';
export { SseReader } from './sse-reader.js';

export * from './chat-request.schema.js';
export * from './types.js';
export { adapterFor } from './adapter-registry.js';
export { openAIAdapter } from './openai/openai.adapter.js';
export { SseReader } from './sse-reader.js';

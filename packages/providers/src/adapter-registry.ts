/** One adapter per wire format; a registry model's `api` picks it. */
import { anthropicAdapter } from './anthropic/anthropic.adapter.js';
import { geminiAdapter } from './gemini/gemini.adapter.js';
import { openAIAdapter } from './openai/openai.adapter.js';
import type { ProviderAdapter, ProviderApi } from './types.js';

const ADAPTERS: Readonly<Record<ProviderApi, ProviderAdapter>> = {
  openai: openAIAdapter,
  anthropic: anthropicAdapter,
  gemini: geminiAdapter,
};

export function adapterFor(api: ProviderApi): ProviderAdapter {
  const adapter = ADAPTERS[api];
  if (!adapter) throw new Error(`no provider adapter for api "${String(api)}"`);
  return adapter;
}

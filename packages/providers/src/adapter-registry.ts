/** One adapter per wire format; a registry model's `api` picks it. */
import { openAIAdapter } from './openai/openai.adapter.js';
import type { ProviderAdapter, ProviderApi } from './types.js';

const ADAPTERS: Partial<Record<ProviderApi, ProviderAdapter>> = {
  openai: openAIAdapter,
};

export function adapterFor(api: ProviderApi): ProviderAdapter {
  const adapter = ADAPTERS[api];
  if (!adapter) throw new Error(`no provider adapter for api "${api}" yet`);
  return adapter;
}

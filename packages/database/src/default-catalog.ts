import type { Model, ModelApi } from '@model-router/domain';

/**
 * The catalog seeded on first start: current models of OpenAI, Anthropic, Google, Mistral,
 * DeepSeek and Meta's open Llama (served by Groq), plus the two models the original design's A/B
 * example names (gpt-4-turbo-preview, claude-3-opus-20240229) so that example runs as written.
 *
 * Prices are the providers' public list prices for standard (non-batch, non-cached) requests,
 * in USD per 1,000 tokens (per-million price ÷ 1000), as published on their pricing pages:
 * - OpenAI:    https://openai.com/api/pricing and https://platform.openai.com/docs/models
 * - Anthropic: https://www.anthropic.com/pricing#api and https://docs.anthropic.com/en/docs/about-claude/models
 * - Google:    https://ai.google.dev/gemini-api/docs/pricing (prompts ≤ 200k tokens) and /docs/models
 * - Mistral:   https://mistral.ai/pricing#api-pricing
 * - DeepSeek:  https://api-docs.deepseek.com/quick_start/pricing
 * - Groq:      https://groq.com/pricing (Llama 3.3 70B Versatile)
 * Context windows and maximum output tokens come from the same providers' model pages. Nominal
 * latencies are typical time-to-complete figures for a short answer; the router replaces them with
 * observed p50 latency once metrics arrive.
 */
type CatalogEntry = Omit<Model, 'endpoint' | 'enabled' | 'api' | 'api_key_env' | 'upstream_model' | 'timeout_ms'>;

const entry = (
  id: string,
  name: string,
  provider: string,
  per_million: [number, number],
  context_window: number,
  max_output_tokens: number,
  capabilities: string[],
  latency_ms: number,
): CatalogEntry => ({
  id,
  name,
  provider,
  input_price_per_1k: per_million[0] / 1000,
  output_price_per_1k: per_million[1] / 1000,
  context_window,
  max_output_tokens,
  capabilities,
  latency_ms,
});

const CHAT = ['chat', 'streaming'];

const ENTRIES: CatalogEntry[] = [
  // OpenAI
  entry('gpt-5', 'GPT-5', 'openai', [1.25, 10], 400_000, 128_000, [...CHAT, 'vision', 'tools', 'json_mode', 'reasoning', 'long_context'], 2500),
  entry('gpt-5-mini', 'GPT-5 mini', 'openai', [0.25, 2], 400_000, 128_000, [...CHAT, 'vision', 'tools', 'json_mode', 'reasoning', 'long_context'], 1400),
  entry('gpt-5-nano', 'GPT-5 nano', 'openai', [0.05, 0.4], 400_000, 128_000, [...CHAT, 'vision', 'tools', 'json_mode', 'reasoning', 'long_context'], 900),
  entry('gpt-4.1', 'GPT-4.1', 'openai', [2, 8], 1_047_576, 32_768, [...CHAT, 'vision', 'tools', 'json_mode', 'long_context'], 900),
  entry('gpt-4.1-mini', 'GPT-4.1 mini', 'openai', [0.4, 1.6], 1_047_576, 32_768, [...CHAT, 'vision', 'tools', 'json_mode', 'long_context'], 600),
  entry('gpt-4o', 'GPT-4o', 'openai', [2.5, 10], 128_000, 16_384, [...CHAT, 'vision', 'tools', 'json_mode'], 700),
  entry('gpt-4o-mini', 'GPT-4o mini', 'openai', [0.15, 0.6], 128_000, 16_384, [...CHAT, 'vision', 'tools', 'json_mode'], 500),
  entry('o4-mini', 'o4-mini', 'openai', [1.1, 4.4], 200_000, 100_000, [...CHAT, 'vision', 'tools', 'json_mode', 'reasoning'], 3000),
  entry('gpt-4-turbo-preview', 'GPT-4 Turbo', 'openai', [10, 30], 128_000, 4_096, [...CHAT, 'tools', 'json_mode'], 1200),
  // Anthropic
  entry('claude-opus-4-1', 'Claude Opus 4.1', 'anthropic', [15, 75], 200_000, 32_000, [...CHAT, 'vision', 'tools', 'reasoning'], 2500),
  entry('claude-sonnet-4-5', 'Claude Sonnet 4.5', 'anthropic', [3, 15], 200_000, 64_000, [...CHAT, 'vision', 'tools', 'reasoning'], 1500),
  entry('claude-haiku-4-5', 'Claude Haiku 4.5', 'anthropic', [1, 5], 200_000, 64_000, [...CHAT, 'vision', 'tools'], 700),
  entry('claude-3-5-haiku-20241022', 'Claude Haiku 3.5', 'anthropic', [0.8, 4], 200_000, 8_192, [...CHAT, 'vision', 'tools'], 700),
  entry('claude-3-opus-20240229', 'Claude 3 Opus', 'anthropic', [15, 75], 200_000, 4_096, [...CHAT, 'vision', 'tools'], 2000),
  // Google
  entry('gemini-2.5-pro', 'Gemini 2.5 Pro', 'google', [1.25, 10], 1_048_576, 65_536, [...CHAT, 'vision', 'tools', 'json_mode', 'reasoning', 'audio', 'long_context'], 2500),
  entry('gemini-2.5-flash', 'Gemini 2.5 Flash', 'google', [0.3, 2.5], 1_048_576, 65_536, [...CHAT, 'vision', 'tools', 'json_mode', 'reasoning', 'audio', 'long_context'], 800),
  entry('gemini-2.5-flash-lite', 'Gemini 2.5 Flash-Lite', 'google', [0.1, 0.4], 1_048_576, 65_536, [...CHAT, 'vision', 'tools', 'json_mode', 'audio', 'long_context'], 450),
  // Mistral
  entry('mistral-large-latest', 'Mistral Large', 'mistral', [2, 6], 128_000, 128_000, [...CHAT, 'tools', 'json_mode'], 900),
  entry('mistral-small-latest', 'Mistral Small', 'mistral', [0.1, 0.3], 128_000, 128_000, [...CHAT, 'vision', 'tools', 'json_mode'], 400),
  // DeepSeek (open weights)
  entry('deepseek-chat', 'DeepSeek-V3.2 (chat)', 'deepseek', [0.28, 0.42], 128_000, 8_192, [...CHAT, 'tools', 'json_mode'], 1100),
  entry('deepseek-reasoner', 'DeepSeek-V3.2 (reasoner)', 'deepseek', [0.28, 0.42], 128_000, 64_000, [...CHAT, 'json_mode', 'reasoning'], 4000),
  // Meta Llama (open weights) on Groq
  entry('llama-3.3-70b-versatile', 'Llama 3.3 70B Versatile', 'groq', [0.59, 0.79], 131_072, 32_768, [...CHAT, 'tools', 'json_mode'], 350),
];

/** Each provider's native wire format (everyone else speaks OpenAI's). */
const NATIVE_API: Readonly<Record<string, ModelApi>> = { anthropic: 'anthropic', google: 'gemini' };

/**
 * The default catalog with every endpoint pointing at `endpointBaseUrl` (the mock provider in
 * development, which speaks all three wire formats). No credential is named: pointing a model at a
 * real provider means setting its `endpoint` and `api_key_env` (see the README's Gateway section).
 */
export function defaultCatalog(endpointBaseUrl: string): Model[] {
  // Gemini's API lives under /v1beta (as at generativelanguage.googleapis.com/v1beta): health
  // probes call {endpoint}/models/{id} and the gateway {endpoint}/models/{id}:generateContent.
  const geminiEndpoint = endpointBaseUrl.replace(/\/v1\/?$/, '/v1beta');
  return ENTRIES.map((model) => ({
    ...model,
    enabled: true,
    endpoint: NATIVE_API[model.provider] === 'gemini' ? geminiEndpoint : endpointBaseUrl,
    api: NATIVE_API[model.provider] ?? 'openai',
    api_key_env: null,
    upstream_model: null,
    timeout_ms: null,
  }));
}

/**
 * Span attribute names. Where an OpenTelemetry semantic convention fits it is used (GenAI:
 * `gen_ai.*`; messaging: `messaging.*`; HTTP: `http.*`, `url.*`); the rest are Model Router's own,
 * under `model_router.`. The GenAI and messaging conventions are still in development upstream, so
 * the names are written here rather than imported from the incubating entry point.
 */
export const ATTR = {
  // GenAI
  GEN_AI_REQUEST_MODEL: 'gen_ai.request.model',
  GEN_AI_PROVIDER_NAME: 'gen_ai.provider.name',
  GEN_AI_REQUEST_MAX_TOKENS: 'gen_ai.request.max_tokens',
  // HTTP
  HTTP_REQUEST_METHOD: 'http.request.method',
  HTTP_ROUTE: 'http.route',
  HTTP_RESPONSE_STATUS_CODE: 'http.response.status_code',
  URL_PATH: 'url.path',
  URL_SCHEME: 'url.scheme',
  // Messaging
  MESSAGING_SYSTEM: 'messaging.system',
  MESSAGING_DESTINATION_NAME: 'messaging.destination.name',
  MESSAGING_OPERATION_TYPE: 'messaging.operation.type',
  MESSAGING_OPERATION_NAME: 'messaging.operation.name',
  MESSAGING_BATCH_MESSAGE_COUNT: 'messaging.batch.message_count',
  MESSAGING_MESSAGE_ID: 'messaging.message.id',
  MESSAGING_CONSUMER_GROUP_NAME: 'messaging.consumer.group.name',
  // Model Router
  REQUEST_ID: 'model_router.request_id',
  ROUTING_STRATEGY: 'model_router.routing.strategy',
  ROUTING_PROMPT_TOKENS: 'model_router.routing.prompt_tokens',
  ROUTING_ELIGIBLE_MODELS: 'model_router.routing.eligible_models',
  ROUTING_EXCLUDED_MODELS: 'model_router.routing.excluded_models',
  ROUTING_ESTIMATED_COST_USD: 'model_router.routing.estimated_cost_usd',
  ROUTING_ESTIMATED_LATENCY_MS: 'model_router.routing.estimated_latency_ms',
  ROUTING_FALLBACKS: 'model_router.routing.fallbacks',
  ABTEST_ID: 'model_router.abtest.id',
  ABTEST_STRATEGY: 'model_router.abtest.strategy',
  ABTEST_VARIANT_ID: 'model_router.abtest.variant_id',
  ABTEST_ASSIGNED: 'model_router.abtest.assigned',
  EVENT_NAME: 'model_router.event.name',
  JOB_ATTEMPT: 'model_router.job.attempt',
} as const;

export { ApiError, ERROR_CODES, type ErrorBody, type ErrorCode, errorBody, errorHandler, fromBodyParser, notFoundHandler, parseInput, validationError } from './errors.js';
export { requestId, requestIdWrittenByRoute } from './request-id.js';
export { createMetricsRegistry, opsRouter, postgresAndRedisChecks, type ReadinessCheck } from './ops.js';
export { closeServer, onShutdownSignal } from './shutdown.js';
export { type ApiKeyOptions, type ClientKey, clientKeyIdOf, DEFAULT_CLIENT_KEY_ID, presentedKey, requireApiKey, requireApiKeyOfRole } from './auth.js';
export { countHttpRequests, createHttpMetrics, type HttpMetrics, routeLabel } from './http-metrics.js';
export { accessLog } from './access-log.js';
export { randomHex128, randomUuid } from './random-id.js';
export { chain } from './chain.js';

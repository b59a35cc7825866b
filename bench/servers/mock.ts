/**
 * The mock provider for the gateway benchmark, in a process of its own (the upstream every gateway
 * calls). Its behaviour is changed over its control API (`PUT /_control/defaults`).
 */
import { createLogger } from '@model-router/logger';
import { startMockProvider } from '@model-router/mock-provider';
import { reportReady } from '../lib/child.js';

const mock = await startMockProvider({ host: '127.0.0.1', port: 0, logger: createLogger('mock-bench', 'error') });
reportReady({ url: mock.url }, () => mock.stop());

import { runServiceMain } from '@model-router/service-runtime';
import { SERVICE_NAME, setupMetricAggregator } from './index.js';

await runServiceMain(SERVICE_NAME, (config) => config.workers.metric_aggregator.ops_port, setupMetricAggregator);

export { startApi, type RunningApi } from './server.js';
export { createApp, routingOptions } from './app.js';

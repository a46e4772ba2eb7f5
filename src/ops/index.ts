/**
 * Operational building blocks every server role shares (directory, gateway, mix node, delivery service):
 * redacting JSON logs, Prometheus metrics, the /metrics, /health and /ready endpoints and HTTP plumbing,
 * typed configuration from a file and flags, and graceful shutdown. Node-only (node:http, node:fs, signals).
 */
export type {
  BooleanSpec,
  ConfigOf,
  ConfigSchema,
  ListSpec,
  LoadConfigOptions,
  NumberSpec,
  OptionSpec,
  StringSpec,
} from './config.ts';
export { describeOptions, flagName, loadConfig } from './config.ts';
export type { OpsEndpointOptions, OpsServer, OpsServerOptions, Readiness, ReadinessCheck } from './http.ts';
export {
  closeServer,
  createHttpServer,
  hostForUrl,
  listen,
  opsEndpoints,
  probeCheck,
  READY_CHECK_TIMEOUT_MS,
  readBody,
  sendJson,
  startOpsServer,
  startServiceOps,
} from './http.ts';
export type { LogFields, Logger, LoggerOptions, LogLevel } from './logger.ts';
export {
  createLogger,
  DEFAULT_REDACTED_FIELDS,
  isLogLevel,
  LOG_LEVELS,
  REDACTED,
  silentLogger,
} from './logger.ts';
export type { HistogramOptions, MetricOptions } from './metrics.ts';
export {
  Counter,
  DURATION_BUCKETS,
  Gauge,
  Histogram,
  METRICS_CONTENT_TYPE,
  MetricsRegistry,
} from './metrics.ts';
export {
  loadProcessConfig,
  opsFromOptions,
  PROCESS_OPTIONS,
  runProcess,
  startUnderShutdown,
} from './process.ts';
export type { CloseHook, Shutdown, ShutdownOptions } from './shutdown.ts';
export { DEFAULT_SHUTDOWN_TIMEOUT_MS, installShutdown } from './shutdown.ts';

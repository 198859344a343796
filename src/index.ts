/** Public API of the package: the client SDK, and the coordinator for embedding and tests. */
export * from './client';
export { startCoordinator, type RunningCoordinator, type StartCoordinatorOptions } from './coordinator';
export { loadConfig, ConfigError, type Config } from './config/config';

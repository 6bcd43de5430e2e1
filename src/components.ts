/** The built-in components, registered exactly as a plugin registers its own. */
import { ComponentRegistry } from './engine/registry.js';
import { stdinInput } from './inputs/stdin.js';
import { demoInput } from './inputs/demo.js';
import { fileInput } from './inputs/file/index.js';
import { syslogInput } from './inputs/syslog/index.js';
import { otlpGrpcInput } from './inputs/otlp-grpc/index.js';
import { fluentForwardInput } from './inputs/fluent-forward/index.js';
import { filterTransform } from './transforms/filter.js';
import { parseTransform } from './transforms/parse.js';
import { anomalyDetectTransform } from './transforms/anomaly-detect.js';
import { redactTransform } from './transforms/redact.js';
import { consoleOutput } from './outputs/console.js';
import { fileOutput } from './outputs/file.js';
import { slackOutput } from './outputs/slack.js';
import { webhookOutput } from './outputs/webhook.js';
import type { AnyComponentDefinition } from './engine/component.js';

export const builtinComponents: AnyComponentDefinition[] = [
  stdinInput,
  demoInput,
  fileInput,
  syslogInput,
  otlpGrpcInput,
  fluentForwardInput,
  parseTransform,
  filterTransform,
  anomalyDetectTransform,
  redactTransform,
  consoleOutput,
  fileOutput,
  slackOutput,
  webhookOutput,
] as AnyComponentDefinition[];

export function createRegistry(): ComponentRegistry {
  const registry = new ComponentRegistry();
  for (const def of builtinComponents) registry.register(def);
  return registry;
}

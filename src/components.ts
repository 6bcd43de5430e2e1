/** The built-in components, registered exactly as a plugin registers its own. */
import { ComponentRegistry } from './engine/registry.js';
import { stdinInput } from './inputs/stdin.js';
import { demoInput } from './inputs/demo.js';
import { parseTransform } from './transforms/parse.js';
import { anomalyDetectTransform } from './transforms/anomaly-detect.js';
import { consoleOutput } from './outputs/console.js';
import { fileOutput } from './outputs/file.js';
import type { AnyComponentDefinition } from './engine/component.js';

export const builtinComponents: AnyComponentDefinition[] = [
  stdinInput,
  demoInput,
  parseTransform,
  anomalyDetectTransform,
  consoleOutput,
  fileOutput,
] as AnyComponentDefinition[];

export function createRegistry(): ComponentRegistry {
  const registry = new ComponentRegistry();
  for (const def of builtinComponents) registry.register(def);
  return registry;
}

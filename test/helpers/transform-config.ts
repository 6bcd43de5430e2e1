/**
 * A built-in transform built as the daemon builds it: from pipeline YAML through the config loader, so that
 * its schema's defaults and checks apply as they do for a user's file.
 */
import { pino } from 'pino';
import { expect } from 'vitest';
import { createRegistry } from '../../src/components.js';
import { ConfigError, type ConfigIssue } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';
import type { TransformStage } from '../../src/engine/component.js';
import { ComponentMetrics } from '../../src/engine/metrics.js';

/** A pipeline whose only transform, `t`, is of `type` with the YAML lines given (indented under it). */
function pipeline(type: string, yaml: string): string {
  const lines = yaml.trim() === '' ? '' : `${yaml.trim().split('\n').map((l) => `    ${l}`).join('\n')}\n`;
  return `inputs: { app: { type: stdin } }
transforms:
  t:
    type: ${type}
    inputs: [app]
${lines}outputs: { out: { type: console, inputs: [t] } }
`;
}

/** The transform `t` built from YAML, with its metrics. */
export async function buildTransform(type: string, yaml: string): Promise<{ stage: TransformStage; metrics: ComponentMetrics }> {
  const config = await parseConfig(pipeline(type, yaml), 'pipeline.yaml', createRegistry(), { env: {} });
  const c = config.components.find((x) => x.id === 't')!;
  const metrics = new ComponentMetrics('t', 'transform', type);
  const stage = (await c.definition.build(c.options, { id: 't', logger: pino({ level: 'silent' }), dataDir: '/tmp', configDir: '/tmp', metrics })) as TransformStage;
  return { stage, metrics };
}

/** The config errors of such a pipeline; fails the test if it is accepted. */
export async function transformIssues(type: string, yaml: string): Promise<ConfigIssue[]> {
  try {
    await parseConfig(pipeline(type, yaml), 'pipeline.yaml', createRegistry(), { env: {} });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('config was accepted but should have been rejected');
}

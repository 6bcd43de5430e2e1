/** The pipeline and input the Slack e2e tests share: nginx JSON lines on stdin, their alerts to a stand-in Slack. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NginxLines, SQL_INJECTION } from './nginx-lines.js';

/**
 * Writes `dir/pipeline.yaml`: stdin -> parse(nginx) -> anomaly_detect (sensitive) -> slack at
 * `${SLACK_WEBHOOK_URL}`, every alert its own message, retries 100-300 ms; `top` and `slack` add lines at
 * the top level and to the Slack output. Returns the file's path.
 */
export async function stdinToSlack(dir: string, extra: { top?: string[]; slack?: string[] } = {}): Promise<string> {
  const config = path.join(dir, 'pipeline.yaml');
  await writeFile(config, [
    `data_dir: ${path.join(dir, 'data')}`,
    ...(extra.top ?? []),
    'inputs: { access: { type: stdin } }',
    'transforms:',
    '  parse_access: { type: parse, inputs: [access], format: nginx }',
    '  detect: { type: anomaly_detect, inputs: [parse_access], stream_id: nginx-logs, profile: sensitive }',
    'outputs:',
    '  slack:',
    '    type: slack',
    '    inputs: [detect]',
    '    webhook_url: ${SLACK_WEBHOOK_URL}',
    '    group_window: 0s',
    '    retry: { initial_backoff: 100ms, max_backoff: 300ms }',
    ...(extra.slack ?? []).map((line) => `    ${line}`),
    '',
  ].join('\n'));
  return config;
}

/** 1,500 ordinary nginx JSON lines, then a 7.5 s response, an SQL injection in the user agent and a 503 among 100 more. */
export function incidentLines(): string[] {
  const gen = new NginxLines(21);
  return [...gen.lines(1500), gen.line({ response_time: 7.5 }), ...gen.lines(50), gen.line({ http_user_agent: SQL_INJECTION }), gen.line({ status: 503 }), ...gen.lines(50)];
}

/** The pipeline the silence tests run: stdin -> anomaly_detect (small min_silence) -> a webhook, and more outputs if given. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Writes `pipeline.yaml` into `dir` and returns its path; `outputs`: more lines under `outputs:`. */
export async function silencePipeline(dir: string, hookUrl: string, outputs = ''): Promise<string> {
  const config = path.join(dir, 'pipeline.yaml');
  await writeFile(config, `data_dir: ${dir}/data
inputs: { app: { type: stdin } }
transforms:
  detect: { type: anomaly_detect, inputs: [app], stream_id: '{body.svc}', min_silence: 3s, threshold: 0.75, snapshot_interval: 0 }
outputs:
  hook: { type: webhook, inputs: [detect], url: '${hookUrl}', batch: { max_events: 1 } }
${outputs}`);
  return config;
}

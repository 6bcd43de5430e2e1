/**
 * examples/kubernetes/nginx-sidecar.yaml, run as the pod would run it, without a cluster: the driftlock
 * container's command (the Dockerfile's ENTRYPOINT/CMD and ENV), its environment, and every path of its
 * pipeline mapped through the container's volume mounts to folders here; nginx's log_format rendered into
 * lines; the probes and the Prometheus annotations asked on the ports they name; a stand-in Slack.
 */
import { mkdir, readdir, readFile, writeFile, appendFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { SlackMessage } from '../../src/outputs/slack.js';
import { ROOT, startCli } from '../helpers/cli.js';
import { cleanUp, ok, startReceiver, type Receiver } from '../helpers/http-receiver.js';
import { NginxLines, SQL_INJECTION, type AccessRecord } from '../helpers/nginx-lines.js';
import { freePort } from '../helpers/metrics.js';
import { tempDir } from '../helpers/temp.js';

/* The few Kubernetes shapes the test reads. */
interface Mount { name: string; mountPath: string; subPath?: string; readOnly?: boolean }
interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } } }
interface Probe { httpGet: { path: string; port: string | number }; periodSeconds?: number; failureThreshold?: number }
interface Container {
  name: string; image: string; restartPolicy?: string; command?: string[]; args?: string[]; env?: EnvVar[];
  ports?: Array<{ name?: string; containerPort: number }>; volumeMounts?: Mount[];
  startupProbe?: Probe; livenessProbe?: Probe; readinessProbe?: Probe;
  securityContext?: { readOnlyRootFilesystem?: boolean; runAsUser?: number };
}
interface Volume { name: string; configMap?: { name: string; items?: Array<{ key: string; path: string }> }; emptyDir?: object }
interface PodSpec { terminationGracePeriodSeconds?: number; initContainers?: Container[]; containers: Container[]; volumes: Volume[] }

const MANIFEST = path.join(ROOT, 'examples/kubernetes/nginx-sidecar.yaml');

async function manifest(): Promise<{ data: Record<string, string>; pod: PodSpec; annotations: Record<string, string> }> {
  const docs = parseAllDocuments(await readFile(MANIFEST, 'utf8')).map((d) => d.toJS() as { kind: string; metadata: { name: string }; data?: Record<string, string>; spec?: { template: { metadata: { annotations: Record<string, string> }; spec: PodSpec } } });
  const configMap = docs.find((d) => d.kind === 'ConfigMap')!;
  const deployment = docs.find((d) => d.kind === 'Deployment')!;
  return { data: configMap.data!, pod: deployment.spec!.template.spec, annotations: deployment.spec!.template.metadata.annotations };
}

/** The image's ENV, ENTRYPOINT and CMD, from the Dockerfile. */
async function image(): Promise<{ env: Record<string, string>; entrypoint: string[]; cmd: string[] }> {
  const text = (await readFile(path.join(ROOT, 'Dockerfile'), 'utf8')).replace(/\\\n/g, ' ');
  const last = text.split(/^FROM /m).at(-1)!; // the runtime stage
  const env: Record<string, string> = {};
  for (const line of last.matchAll(/^ENV (.*)$/gm)) for (const [, k, v] of line[1]!.matchAll(/(\w+)=(\S+)/g)) env[k!] = v!;
  const json = (key: string) => JSON.parse(new RegExp(`^${key} (.*)$`, 'm').exec(last)![1]!) as string[];
  return { env, entrypoint: json('ENTRYPOINT'), cmd: json('CMD') };
}

/**
 * The pod's volumes as folders under `root` (config maps written out), and a function that says where a
 * container's path lands: the longest mount that holds it, or undefined if on the image's own filesystem.
 */
async function volumes(root: string, pod: PodSpec, data: Record<string, string>): Promise<(c: Container, p: string) => { volume: string; file: string } | undefined> {
  for (const v of pod.volumes) {
    const dir = path.join(root, v.name);
    await mkdir(dir, { recursive: true });
    for (const item of v.configMap?.items ?? []) await writeFile(path.join(dir, item.path), data[item.key]!);
  }
  return (c, p) => {
    const mount = (c.volumeMounts ?? []).filter((m) => p === m.mountPath || p.startsWith(`${m.mountPath}/`)).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
    if (!mount) return undefined;
    const rest = p.slice(mount.mountPath.length);
    return { volume: mount.name, file: path.join(root, mount.name, mount.subPath ?? '', rest) };
  };
}

/** nginx's `log_format NAME escape=json '...' '...';` and `access_log PATH NAME;`. */
function nginxLogFormat(conf: string): { format: string; accessLog: string } {
  const fmt = /log_format\s+(\S+)\s+escape=json\s+((?:'[^']*'\s*)+);/.exec(conf)!;
  const format = [...fmt[2]!.matchAll(/'([^']*)'/g)].map((m) => m[1]).join('');
  const access = new RegExp(`access_log\\s+(\\S+)\\s+${fmt[1]}\\s*;`).exec(conf)!;
  return { format, accessLog: access[1]! };
}

/** What nginx writes for a request, with escape=json: each variable's value JSON-escaped in place. */
function render(format: string, r: AccessRecord): string {
  const values: Record<string, string> = {
    time_iso8601: r.timestamp.replace(/\.\d+Z$/, '+00:00'),
    remote_addr: r.remote_addr,
    request: r.request,
    status: String(r.status),
    body_bytes_sent: String(r.body_bytes_sent),
    http_referer: r.http_referer,
    http_user_agent: r.http_user_agent,
    request_time: r.response_time.toFixed(3),
  };
  return format.replace(/\$(\w+)/g, (_, name: string) => {
    if (!(name in values)) throw new Error(`the test does not know nginx's $${name}`);
    return JSON.stringify(values[name]).slice(1, -1);
  });
}


let slack: Receiver | undefined;
afterEach(async () => {
  await cleanUp(slack);
  slack = undefined;
});

describe('examples/kubernetes/nginx-sidecar.yaml', () => {
  it('runs as the pod would: nginx\'s JSON lines on the shared volume reach Slack, probes and metrics answer, SIGTERM drains in the grace period', async () => {
    const { data, pod, annotations } = await manifest();
    const img = await image();
    const driftlock = pod.initContainers!.find((c) => c.name === 'driftlock')!;
    const nginx = pod.containers.find((c) => c.name === 'nginx')!;
    expect(driftlock.restartPolicy).toBe('Always'); // a native sidecar: started before nginx, stopped after it
    expect(driftlock.image).toMatch(/^driftlock:/);
    expect(driftlock.securityContext?.runAsUser).toBe(1000); // the image's `node` user, owner of its data folder

    const dir = await tempDir('dl-k8s-');
    const where = await volumes(path.join(dir, 'volumes'), pod, data);

    // The image reads its pipeline from DRIFTLOCK_CONFIG: the config map's file through the mount.
    const configAt = where(driftlock, img.env.DRIFTLOCK_CONFIG!);
    expect(configAt?.volume).toBe('driftlock-config');
    let config = await readFile(configAt!.file, 'utf8');

    // Every path the pipeline names is on a volume (the root filesystem is read-only), the state on a
    // volume that outlives the container, at the image's DRIFTLOCK_DATA_DIR (its VOLUME).
    expect(driftlock.securityContext?.readOnlyRootFilesystem).toBe(true);
    const dataDir = /^data_dir: (\S+)$/m.exec(config)![1]!;
    expect(dataDir).toBe(img.env.DRIFTLOCK_DATA_DIR);
    expect(pod.volumes.find((v) => v.name === where(driftlock, dataDir)?.volume)?.emptyDir).toBeDefined();
    const include = /include: \[(\S+)\]/.exec(config)![1]!;
    for (const m of driftlock.volumeMounts!) config = config.replaceAll(m.mountPath, where(driftlock, m.mountPath)!.file);

    // nginx writes its log_format to the file that driftlock tails: the same file of the same volume.
    const nginxConf = nginx.volumeMounts!.find((m) => m.mountPath.startsWith('/etc/nginx/conf.d/'))!;
    const { format, accessLog } = nginxLogFormat(await readFile(where(nginx, nginxConf.mountPath)!.file, 'utf8'));
    expect(where(nginx, accessLog)).toEqual(where(driftlock, include));
    const logFile = where(driftlock, include)!.file;

    // The API on the port the probes and Prometheus ask, here on 127.0.0.1.
    const apiPort = driftlock.ports!.find((p) => p.name === driftlock.livenessProbe!.httpGet.port)!.containerPort;
    expect(config).toContain(`address: 0.0.0.0:${apiPort}`);
    expect(Number(annotations['prometheus.io/port'])).toBe(apiPort);
    const port = await freePort();
    config = config.replace(`0.0.0.0:${apiPort}`, `127.0.0.1:${port}`);
    const configFile = path.join(dir, 'driftlock.yaml');
    await writeFile(configFile, config);

    // A graceful stop fits in the grace period.
    const shutdown = Number(/^shutdown_timeout: (\d+)s$/m.exec(config)![1]);
    expect(pod.terminationGracePeriodSeconds!).toBeGreaterThan(shutdown);

    slack = await startReceiver(ok);
    const podEnv: Record<string, string> = {};
    for (const e of driftlock.env ?? []) {
      if (e.value !== undefined) podEnv[e.name] = e.value;
      else if (e.valueFrom?.secretKeyRef) podEnv[e.name] = slack.url; // the only secret: the webhook URL
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') podEnv[e.name] = 'web-7c9d8-x2kfp';
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') podEnv[e.name] = 'shop';
      else throw new Error(`the test does not know how to set ${e.name}`);
    }
    const args = [...img.entrypoint.slice(2), ...(driftlock.args ?? img.cmd)];
    expect(img.entrypoint.slice(0, 2)).toEqual(['node', '/app/dist/src/cli/main.js']);
    const workDir = path.join(dir, 'workdir');
    await mkdir(workDir);
    const cli = startCli(args, { cwd: workDir, env: { ...img.env, ...podEnv, DRIFTLOCK_CONFIG: configFile } });
    try {
      // The startup probe passes within its budget.
      const startup = driftlock.startupProbe!;
      const budgetMs = (startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3) * 1000;
      const started = Date.now();
      let live: Response | undefined;
      while (Date.now() - started < budgetMs) {
        live = await fetch(`http://127.0.0.1:${port}${startup.httpGet.path}`).catch(() => undefined);
        if (live?.status === 200) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(live?.status, cli.stderr().slice(-2000)).toBe(200);

      const gen = new NginxLines(5);
      const lines = (n: number) => Array.from({ length: n }, () => render(format, gen.record()));
      for (const line of lines(3)) expect(() => JSON.parse(line) as unknown).not.toThrow();
      // nginx's readiness probe, as the kubelet sends it, among the traffic: the pipeline's filter drops it.
      const probePath = nginx.readinessProbe!.httpGet.path;
      const probe = () => render(format, gen.record({ request: `GET ${probePath} HTTP/1.1`, http_user_agent: 'kube-probe/1.31' }));
      for (let i = 0; i < 4; i++) await appendFile(logFile, [...lines(500), ...Array.from({ length: 10 }, probe)].join('\n') + '\n');
      await appendFile(logFile, [render(format, gen.record({ http_user_agent: SQL_INJECTION })), ...lines(100)].join('\n') + '\n');
      await slack.waitFor(() => slack!.accepted().some((r) => r.body.includes('UNION SELECT')), 30_000, 'the injection alert');

      expect((await fetch(`http://127.0.0.1:${port}${driftlock.livenessProbe!.httpGet.path}`)).status).toBe(200);
      const metrics = await fetch(`http://127.0.0.1:${port}${annotations['prometheus.io/path']}`);
      expect(metrics.status).toBe(200);
      const text = await metrics.text();
      expect(text).toMatch(/^driftlock_received_events_total\{component_id="access",component_kind="input",component_type="file"\} 2141$/m);
      expect(text).toMatch(/^driftlock_filtered_events_total\{component_id="drop_probes",component_kind="transform",component_type="filter"\} 40$/m);
    } finally {
      cli.child.kill('SIGTERM');
    }
    const result = await cli.exited;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    const alert = slack.accepted().map((r) => JSON.parse(r.body) as SlackMessage).find((m) => m.text.includes('UNION SELECT'))!;
    expect(JSON.stringify(alert.blocks)).toContain('shop/web-7c9d8-x2kfp'); // the stream names the pod
    expect(JSON.stringify(alert.blocks)).toContain('http_user_agent');
    // Nothing was written beside the volumes: the working directory (the image's /app) stays empty.
    expect(await readdir(workDir)).toEqual([]);
  }, 60_000);
});

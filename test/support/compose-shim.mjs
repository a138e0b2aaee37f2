// A stand-in for `docker compose` (Compose v2), which Debian's packages do not carry and this
// machine cannot download: the compose recipe's test (compose-recipe.test.ts) puts it first on
// PATH as `docker`. It does what the recipe needs of compose, the way compose does it:
//   - every invocation reads ./docker-compose.yml and interpolates the WHOLE file first, failing
//     like compose does on a `${VAR:?message}` whose variable is unset or empty;
//   - `compose build` is recorded (the broker image needs a base image from a registry);
//   - `compose run [--rm] [--no-deps] sallyport ARGS` runs the broker's CLI with ARGS (the
//     image's entrypoint), in the service's interpolated environment;
//   - `compose up -d` is recorded with the interpolated environment, for the test to start the
//     broker process from.
// Calls are appended to $COMPOSE_SHIM_LOG as JSON lines.
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';

const [, , group, command, ...rest] = process.argv;
const log = (entry) => appendFileSync(process.env.COMPOSE_SHIM_LOG, `${JSON.stringify(entry)}\n`);
if (group !== 'compose') {
  console.error(`compose shim: only "docker compose" is provided here, not "docker ${group}"`);
  process.exit(2);
}

function interpolate(text) {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (all, name, op, arg) => {
    if (all === '$$') return '$';
    const value = process.env[name];
    const unset = op?.startsWith(':') ? !value : value === undefined;
    if (op?.endsWith('?') && unset) {
      console.error(`error while interpolating: required variable ${name} is missing a value: ${arg}`);
      process.exit(1);
    }
    if (op?.endsWith('-') && unset) return arg;
    return value ?? '';
  });
}
// As compose does: the YAML is parsed first (comments are not interpolated), then every string.
const walk = (v) => (typeof v === 'string' ? interpolate(v) : Array.isArray(v) ? v.map(walk) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)])) : v);
const file = walk(parse(readFileSync('docker-compose.yml', 'utf8')));

switch (command) {
  case 'build':
    log({ command: 'build' });
    break;
  case 'run': {
    while (rest[0]?.startsWith('--')) rest.shift();
    const service = rest.shift();
    if (service !== 'sallyport') {
      console.error(`compose shim: no service ${service}`);
      process.exit(2);
    }
    log({ command: 'run', args: rest });
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...file.services.sallyport.environment };
    const r = spawnSync(process.execPath, ['--import', 'tsx', process.env.COMPOSE_SHIM_CLI, ...rest], { env, stdio: 'inherit', cwd: process.env.COMPOSE_SHIM_ROOT });
    process.exit(r.status ?? 1);
  }
  case 'up':
    log({ command: 'up', args: rest, environment: file.services.sallyport.environment, secrets: file.secrets, volumes: file.services.sallyport.volumes });
    break;
  default:
    console.error(`compose shim: "docker compose ${command}" is not provided here`);
    process.exit(2);
}

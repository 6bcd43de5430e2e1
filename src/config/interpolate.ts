/**
 * Environment interpolation in config values: `${VAR}`, `${VAR:-default}` (default when unset or empty),
 * and `$$` for a literal `$`. Applied to each scalar value after YAML parsing, so errors keep their position
 * and a substituted value cannot change the structure of the document.
 */
export interface InterpolationResult {
  value: string;
  /** What could not be substituted, as messages for the user. */
  errors: string[];
  /** Names of the variables that were substituted (their values are treated as possibly secret). */
  used: string[];
}

const PATTERN = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{([^}]*)\}?/g;

export function interpolate(text: string, env: NodeJS.ProcessEnv): InterpolationResult {
  const errors: string[] = [];
  const used: string[] = [];
  const value = text.replace(PATTERN, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$$') return '$';
    if (name === undefined) {
      errors.push(`invalid variable reference "${match}" (expected \${NAME} or \${NAME:-default})`);
      return match;
    }
    const found = env[name];
    if (found !== undefined && found !== '') {
      used.push(name);
      return found;
    }
    if (fallback !== undefined) return fallback;
    if (found === '') {
      used.push(name);
      return '';
    }
    errors.push(`environment variable ${name} is not set (write \${${name}:-default} to give a default)`);
    return match;
  });
  return { value, errors, used };
}

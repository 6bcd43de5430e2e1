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
  const value = text.replace(PATTERN, (match: string, name: string | undefined, fallback: string | undefined, _invalid: string | undefined, offset: number) => {
    if (match === '$$') return '$';
    if (name === undefined) {
      // Not quoted: the text after `${` is often a secret written in the config (a password with a `$`).
      errors.push(`invalid variable reference at character ${offset + 1} of the value (expected \${NAME} or \${NAME:-default}; a literal "$" is written "$$")`);
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

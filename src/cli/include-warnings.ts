/**
 * `validate`'s warnings about what the config alone does not show: a file input whose `include` glob matches
 * no file now, its folder not there or nothing in it matching. Warnings, not errors: files that appear later
 * are read (`run` says it too, when it starts).
 */
import type { ComponentConfig } from '../config/load.js';
import { missingFolders, PathMatcher } from '../inputs/file/glob.js';

export async function includeWarnings(components: ComponentConfig[]): Promise<string[]> {
  const warnings: string[] = [];
  for (const c of components) {
    if (c.kind !== 'input' || c.type !== 'file') continue;
    const { include, exclude } = c.options as { include: string[]; exclude: string[] };
    // Relative globs against the working directory, as `run` reads them.
    const matcher = new PathMatcher(include, exclude);
    const found = await matcher.scan();
    for (const glob of matcher.include) {
      const [missing] = await missingFolders([glob]);
      if (missing !== undefined) warnings.push(`input "${c.id}": include "${glob.pattern}" matches no file now: the folder ${missing} does not exist (files that appear there later are read)`);
      else if (!found.some((f) => glob.regex.test(f))) warnings.push(`input "${c.id}": include "${glob.pattern}" matches no file now (files that appear later are read)`);
    }
  }
  return warnings;
}

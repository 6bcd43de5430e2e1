/**
 * `validate`'s warnings about what the config alone does not show: a file input whose `include` glob matches
 * no file now, its folder not there or nothing in it matching. Warnings, not errors: files that appear later
 * are read (`run` says it too, when it starts).
 */
import type { ComponentConfig, PathSegment } from '../config/load.js';
import { missingFolders, PathMatcher, unreadableFolders } from '../inputs/file/glob.js';
import { folderUnreadable } from '../make-folder.js';

/** A warning, and the value of the config it is about (`at`), to say where the file writes it. */
export interface ConfigWarning {
  at: PathSegment[];
  message: string;
}

export async function includeWarnings(components: ComponentConfig[]): Promise<ConfigWarning[]> {
  const warnings: ConfigWarning[] = [];
  for (const c of components) {
    if (c.kind !== 'input' || c.type !== 'file') continue;
    const { include, exclude } = c.options as { include: string[]; exclude: string[] };
    // Relative globs against the working directory, as `run` reads them.
    const matcher = new PathMatcher(include, exclude);
    const found = await matcher.scan();
    for (const [i, glob] of matcher.include.entries()) {
      const at = ['inputs', c.id, 'include', i];
      const [missing] = await missingFolders([glob]);
      const [unreadable] = await unreadableFolders([glob]);
      if (unreadable !== undefined) warnings.push({ at, message: `input "${c.id}": include "${glob.pattern}" matches no file it can read: ${folderUnreadable(unreadable.dir)} (${unreadable.err.code})` });
      else if (missing !== undefined) warnings.push({ at, message: `input "${c.id}": include "${glob.pattern}" matches no file now: the folder ${missing} does not exist (files that appear there later are read)` });
      else if (!found.some((f) => glob.regex.test(f))) warnings.push({ at, message: `input "${c.id}": include "${glob.pattern}" matches no file now (files that appear later are read)` });
    }
  }
  return warnings;
}

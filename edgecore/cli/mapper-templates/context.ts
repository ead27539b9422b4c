import type { MapperNames } from './names.js';

/** What the templates need to know about where the mapper is written and how it reaches edgetwin. */
export interface TemplateContext {
  names: MapperNames;
  /** How the generated files import edgetwin's entry points: package subpaths, or relative paths in the repo. */
  imports: { sdk: string; testing: string; deviceModels: string };
  /** Where the sources are, as messages name them: `src` or `mappers/acme-link`. */
  sourceDir: string;
  /** From the test file: the sources (`../src`, `.`) and the sample YAML. */
  fromTest: { sources: string; sample: string };
  /** A plug-in package also exports the registration as its default export. */
  defaultExport: boolean;
  /** The TCP port of the sample device (and of `edgetwin sim`). */
  samplePort: number;
}

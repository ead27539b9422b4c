import type { Static, TSchema } from '@sinclair/typebox';
import { Ajv, type SchemaValidateFunction, type ValidateFunction } from 'ajv';
import type { DataValidationCxt } from 'ajv/dist/types/index.js';
import addFormatsModule from 'ajv-formats';
import type { NumericOptions } from './schema/common.js';

/**
 * The one ajv instance that validates every boundary (YAML files, CRDs, MQTT payloads, config).
 * Two keywords of ours, for protocol configData only:
 * - `numeric`: accepts a number or a numeric string, checks integer/minimum/maximum, and writes the number back;
 * - `boolish`: accepts a boolean or "true"/"false", and writes the boolean back.
 */
export const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
const addFormats = addFormatsModule as unknown as (a: Ajv) => Ajv;
addFormats(ajv);
ajv.addVocabulary(['x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string']);

const NUMBER_TEXT = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;

function writeBack(cxt: DataValidationCxt | undefined, value: unknown): void {
  if (cxt?.parentData && cxt.parentDataProperty !== undefined) cxt.parentData[cxt.parentDataProperty] = value;
}

const numeric: SchemaValidateFunction = (options: NumericOptions, data: unknown, _parent, cxt) => {
  const fail = (message: string) => {
    numeric.errors = [{ keyword: 'numeric', message, params: { value: data } }];
    return false;
  };
  const n = typeof data === 'number' ? data : NUMBER_TEXT.test(String(data)) ? Number(data) : Number.NaN;
  if (!Number.isFinite(n)) return fail(`must be a number (got ${JSON.stringify(data)})`);
  if (options.integer && !Number.isInteger(n))
    return fail(`must be an integer (got ${JSON.stringify(data)})`);
  if (options.minimum !== undefined && n < options.minimum)
    return fail(`must be >= ${options.minimum} (got ${n})`);
  if (options.maximum !== undefined && n > options.maximum)
    return fail(`must be <= ${options.maximum} (got ${n})`);
  writeBack(cxt, n);
  return true;
};

const boolish: SchemaValidateFunction = (_on: boolean, data: unknown, _parent, cxt) => {
  if (typeof data === 'boolean') return true;
  if (data === 'true' || data === 'false') {
    writeBack(cxt, data === 'true');
    return true;
  }
  boolish.errors = [
    { keyword: 'boolish', message: `must be true or false (got ${JSON.stringify(data)})`, params: {} },
  ];
  return false;
};

ajv.addKeyword({
  keyword: 'numeric',
  type: ['number', 'string'],
  schemaType: 'object',
  modifying: true,
  errors: true,
  validate: numeric,
});
ajv.addKeyword({
  keyword: 'boolish',
  type: ['boolean', 'string'],
  schemaType: 'boolean',
  modifying: true,
  errors: true,
  validate: boolish,
});

const compiled = new WeakMap<TSchema, ValidateFunction>();

/** The compiled validator for a schema, compiled once; it narrows what it accepts to the schema's type. */
export function validatorFor<T extends TSchema>(schema: T): ValidateFunction<Static<T>> {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = ajv.compile(schema);
    compiled.set(schema, fn);
  }
  return fn as ValidateFunction<Static<T>>;
}

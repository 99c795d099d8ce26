import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { parseDocument, parse as parseYaml, stringify } from 'yaml';
import { ApiError } from '../api/errors.js';
import { DOMAIN_NAME, domainJsonSchema } from '../api/spec.js';

/** The OpenAPI document in the repository: docs/api/openapi.yaml. */
export const OPENAPI_PATH = fileURLToPath(new URL('../../../docs/api/openapi.yaml', import.meta.url));

/**
 * The schemas of the document that are generated from the domain spec schema (src/api/spec.ts),
 * so the API describes exactly what the spec accepts: `DomainSpec` (a domain document) and the
 * domain `Name` pattern.
 */
export function generatedSchemas(): { DomainSpec: Json; Name: Json } {
  const { $schema: _, ...domain } = domainJsonSchema();
  return {
    DomainSpec: {
      ...domain,
      description:
        'A domain document (src/api/spec.ts, generated from its schema): the format of one domain of a config file, with a name. The daemon checks it with the spec schema itself, so its messages name the field as `config.FIELD`. Responses carry the normalised form (defaults filled in, memory as a size such as "128M"). Host paths should be absolute (the CLI resolves them).',
    },
    Name: {
      type: 'string',
      pattern: DOMAIN_NAME.source,
      description: "letters, digits, '.', '_', '-'; not only digits (those are ids)",
    },
  };
}

/** docs/api/openapi.yaml with its generated schemas in place: what the daemon serves and validates with. */
export function openApiDocument(path = OPENAPI_PATH): Json {
  const doc = parseYaml(readFileSync(path, 'utf8')) as Json;
  const schemas = ((doc.components as Json).schemas ?? {}) as Json;
  Object.assign(schemas, generatedSchemas());
  return doc;
}

/** The document as YAML text (GET /v1/openapi.yaml). */
export function openApiYaml(document: Json): string {
  return stringify(document, { lineWidth: 0 });
}

/** Rewrites the generated schemas in the file at `path` (npm run openapi), keeping everything else as written. */
export function writeOpenApiDocument(path = OPENAPI_PATH): void {
  const doc = parseDocument(readFileSync(path, 'utf8'));
  for (const [name, schema] of Object.entries(generatedSchemas())) doc.setIn(['components', 'schemas', name], schema);
  writeFileSync(path, doc.toString({ lineWidth: 0 }));
}

type Json = Record<string, unknown>;

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema?: Json;
}

/** One operation of the document, with its validators compiled. */
export interface Operation {
  readonly operationId: string;
  readonly method: string;
  readonly template: string;
  readonly regex: RegExp;
  readonly pathParams: readonly string[];
  readonly queryParams: ReadonlySet<string>;
  readonly bodyRequired: boolean;
  readonly validatePath: ValidateFunction;
  readonly validateQuery: ValidateFunction;
  readonly validateBody: ValidateFunction | undefined;
}

export interface Match {
  readonly op: Operation;
  readonly params: Record<string, string>;
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch'];

/** Replaces OpenAPI component references by references into one JSON Schema resource. */
function rewriteRefs(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(rewriteRefs);
  if (v === null || typeof v !== 'object') return v;
  const out: Json = {};
  for (const [k, x] of Object.entries(v)) {
    out[k] =
      k === '$ref' && typeof x === 'string' ? x.replace('#/components/schemas/', 'pvm-api#/$defs/') : rewriteRefs(x);
  }
  return out;
}

function describe(where: string, e: ErrorObject): string {
  const at = e.instancePath.replace(/^\//, '').replaceAll('/', '.');
  const field = at ? `${where}.${at}` : where;
  switch (e.keyword) {
    case 'required':
      return `${field}: missing field ${JSON.stringify(e.params.missingProperty)}`;
    case 'additionalProperties':
      return `${field}: unknown field ${JSON.stringify(e.params.additionalProperty)}`;
    case 'maxProperties':
      return e.params.limit === 0 ? `${field}: expected no fields` : `${field} ${e.message}`;
    case 'enum':
      return `${field} must be one of ${(e.params.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ')}`;
    case 'pattern': {
      const d = (e.parentSchema as Json | undefined)?.description;
      return typeof d === 'string' ? `${field} is not valid: ${d}` : `${field} ${e.message}`;
    }
    default:
      return `${field} ${e.message}`;
  }
}

/**
 * The API as the document describes it: matches a method and path to an
 * operation and validates path parameters, query and body with Ajv (JSON
 * Schema 2020-12, the dialect of OpenAPI 3.1). Failures are ApiErrors whose
 * message names the offending field.
 */
export class ApiSpec {
  readonly document: Json;
  readonly basePath: string;
  readonly operations: readonly Operation[];
  /** Validates requests: a domain document is left to the spec schema (one set of rules and messages). */
  private readonly ajv: Ajv2020;
  /** Validates against the whole document, DomainSpec included (`schema()`, for responses). */
  private readonly full: Ajv2020;

  constructor(document: Json) {
    this.document = document;
    const servers = document.servers as { url: string }[] | undefined;
    this.basePath = servers?.[0] ? new URL(servers[0].url).pathname.replace(/\/$/, '') : '';
    const components = (document.components ?? {}) as Json;
    const schemas = (components.schemas ?? {}) as Json;
    const ajv = (defs: Json) => {
      const a = new Ajv2020({
        allErrors: false,
        verbose: true,
        strict: true,
        allowUnionTypes: true,
        formats: { 'date-time': true },
      });
      a.addKeyword({ keyword: 'example' });
      a.addSchema({ $id: 'pvm-api', $defs: rewriteRefs(defs) as Json });
      return a;
    };
    this.full = ajv(schemas);
    this.ajv = ajv({ ...schemas, DomainSpec: { type: 'object' } });
    const ops: Operation[] = [];
    for (const [template, item] of Object.entries((document.paths ?? {}) as Record<string, Json>)) {
      const shared = (item.parameters ?? []) as Json[];
      for (const method of HTTP_METHODS) {
        const raw = item[method] as Json | undefined;
        if (raw) ops.push(this.compile(template, method.toUpperCase(), raw, shared));
      }
    }
    this.operations = ops;
  }

  static load(path = OPENAPI_PATH): ApiSpec {
    return new ApiSpec(openApiDocument(path));
  }

  private resolve<T>(v: unknown): T {
    const ref = (v as Json | null)?.$ref;
    if (typeof ref !== 'string') return v as T;
    let node: unknown = this.document;
    for (const part of ref.replace(/^#\//, '').split('/')) node = (node as Json)[part];
    if (node === undefined) throw new Error(`OpenAPI document: unresolved reference ${ref}`);
    return this.resolve<T>(node);
  }

  private compile(template: string, method: string, raw: Json, shared: Json[]): Operation {
    const params = [...shared, ...((raw.parameters ?? []) as Json[])].map((p) => this.resolve<Parameter>(p));
    const schemaFor = (where: 'path' | 'query'): Json => {
      const ps = params.filter((p) => p.in === where);
      return {
        type: 'object',
        additionalProperties: false,
        required: ps.filter((p) => p.required || where === 'path').map((p) => p.name),
        properties: Object.fromEntries(ps.map((p) => [p.name, rewriteRefs(p.schema ?? {})])),
      };
    };
    const pathParams: string[] = [];
    const regex = new RegExp(
      `^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_, n: string) => {
        pathParams.push(n);
        return '([^/]+)';
      })}$`,
    );
    const body = raw.requestBody ? this.resolve<Json>(raw.requestBody) : undefined;
    const bodySchema = (body?.content as Record<string, Json> | undefined)?.['application/json']?.schema;
    return {
      operationId: String(raw.operationId),
      method,
      template,
      regex,
      pathParams,
      queryParams: new Set(params.filter((p) => p.in === 'query').map((p) => p.name)),
      bodyRequired: body?.required === true,
      validatePath: this.ajv.compile(schemaFor('path')),
      validateQuery: this.ajv.compile(schemaFor('query')),
      validateBody: bodySchema ? this.ajv.compile(rewriteRefs(bodySchema) as Json) : undefined,
    };
  }

  /** The operation for `method pathname`, or an ApiError (404 no such route, 405 wrong method). */
  match(method: string, pathname: string): Match {
    if (!pathname.startsWith(`${this.basePath}/`)) {
      throw new ApiError('not-found', `no route ${method} ${pathname} (the API lives under ${this.basePath}/)`);
    }
    const rest = pathname.slice(this.basePath.length);
    const onPath = this.operations.filter((o) => o.regex.test(rest));
    if (onPath.length === 0) throw new ApiError('not-found', `no route ${method} ${pathname}`);
    const op = onPath.find((o) => o.method === method);
    if (!op) {
      throw new ApiError(
        'bad-method',
        `${method} is not allowed on ${pathname} (allowed: ${onPath.map((o) => o.method).join(', ')})`,
      );
    }
    const m = op.regex.exec(rest)!;
    const params: Record<string, string> = {};
    op.pathParams.forEach((n, i) => {
      try {
        params[n] = decodeURIComponent(m[i + 1]!);
      } catch {
        throw new ApiError('bad-request', `path parameter ${n} is not valid percent-encoding`);
      }
    });
    return { op, params };
  }

  /** Checks a request against its operation; throws ApiError('bad-request') naming the problem. */
  validate(op: Operation, params: Record<string, string>, query: Record<string, string>, body: unknown): void {
    if (!op.validatePath(params)) throw new ApiError('bad-request', describe('path', op.validatePath.errors![0]!));
    for (const k of Object.keys(query)) {
      if (!op.queryParams.has(k)) throw new ApiError('bad-request', `unknown query parameter ${JSON.stringify(k)}`);
    }
    if (!op.validateQuery(query)) throw new ApiError('bad-request', describe('query', op.validateQuery.errors![0]!));
    if (body === undefined) {
      if (op.bodyRequired) throw new ApiError('bad-request', `${op.method} ${op.template} needs a JSON body`);
      return;
    }
    if (!op.validateBody) throw new ApiError('bad-request', `${op.method} ${op.template} takes no body`);
    if (!op.validateBody(body)) throw new ApiError('bad-request', describe('body', op.validateBody.errors![0]!));
  }

  /** A validator for a named component schema (tests check responses with it). */
  schema(name: string): ValidateFunction {
    return this.full.getSchema(`pvm-api#/$defs/${name}`) ?? this.full.compile({ $ref: `pvm-api#/$defs/${name}` });
  }
}

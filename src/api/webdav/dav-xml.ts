import { DomainError } from '../../core/errors.js';

/** Namespaces with the prefixes Nextcloud's responses use; clients parse by namespace, but people read these. */
export const NS = Object.freeze({ dav: 'DAV:', sabre: 'http://sabredav.org/ns', oc: 'http://owncloud.org/ns', nc: 'http://nextcloud.org/ns' });

const PREFIXES: ReadonlyMap<string, string> = new Map([
  [NS.dav, 'd'],
  [NS.sabre, 's'],
  [NS.oc, 'oc'],
  [NS.nc, 'nc'],
]);

/** A property name in Clark notation, `{DAV:}getetag`, as Sabre writes them. */
export type Clark = string;

export const clark = (ns: string, local: string): Clark => `{${ns}}${local}`;

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`);
}

type PropfindRequest = { kind: 'allprop' } | { kind: 'propname' } | { kind: 'prop'; props: Clark[] };

const NAME = String.raw`[A-Za-z_][\w.-]*`;
const QNAME = `(?:(${NAME}):)?(${NAME})`;
const TAG = new RegExp(`<(/?)${QNAME}((?:"[^"]*"|'[^']*'|[^'">])*?)(/?)>`, 'g');
const XMLNS = new RegExp(`\\bxmlns(?::(${NAME}))?\\s*=\\s*(?:"([^"]*)"|'([^']*)')`, 'g');

/**
 * Reads which properties a PROPFIND asks for. This is a tolerant scan, not an XML parser: the
 * answer carries the supported properties whatever is asked, so only the names matter. It keeps
 * namespace scoping per element and ignores everything else (text, comments, unknown wrappers).
 * An empty body or an empty `<propfind/>` means allprop (RFC 4918 §9.1).
 */
export function parsePropfind(body: string): PropfindRequest {
  const text = body
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<\?[\s\S]*?\?>/g, '')
    .replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '');
  if (text.trim() === '') return { kind: 'allprop' };

  // Each open element pushes its namespace bindings; a closing tag pops them.
  const scopes: Map<string, string>[] = [];
  const resolve = (prefix: string): string | undefined => {
    for (let i = scopes.length - 1; i >= 0; i--) {
      const ns = scopes[i]?.get(prefix);
      if (ns !== undefined) return ns;
    }
    return prefix === '' ? '' : undefined;
  };

  let sawPropfind = false;
  let inProp = false;
  let kind: 'allprop' | 'propname' | undefined;
  const props: Clark[] = [];

  for (const m of text.matchAll(TAG)) {
    const [, closing, prefix = '', local = '', attrs = '', selfClosing] = m;
    if (closing) {
      if (scopes.length === 2) inProp = false;
      scopes.pop();
      continue;
    }
    const bindings = new Map<string, string>();
    for (const a of attrs.matchAll(XMLNS)) bindings.set(a[1] ?? '', a[2] ?? a[3] ?? '');
    scopes.push(bindings);
    const ns = resolve(prefix);
    if (ns === undefined) throw new DomainError('bad_request', `The request body uses the undeclared namespace prefix "${prefix}"`);

    const depth = scopes.length - 1;
    const isDav = ns === NS.dav;
    if (depth === 0) {
      if (!isDav || local !== 'propfind') throw new DomainError('bad_request', 'The request body must be a {DAV:}propfind element');
      sawPropfind = true;
    } else if (depth === 1 && isDav && (local === 'allprop' || local === 'propname')) {
      kind ??= local;
    } else if (depth === 1 && isDav && local === 'prop') {
      inProp = true;
    } else if (depth === 2 && inProp) {
      props.push(clark(ns, local));
    }

    if (selfClosing) {
      if (depth === 1) inProp = false;
      scopes.pop();
    }
  }
  if (!sawPropfind) throw new DomainError('bad_request', 'The request body must be a {DAV:}propfind element');
  if (kind !== undefined) return { kind };
  return props.length === 0 ? { kind: 'allprop' } : { kind: 'prop', props: [...new Set(props)] };
}

export interface DavResponse {
  href: string;
  /** Properties with a value, in order: Clark name → inner XML (already escaped). */
  found: ReadonlyArray<readonly [Clark, string]>;
  /** Properties asked for that this resource does not have (the 404 propstat). */
  missing: readonly Clark[];
}

/** `{ns}local` as an element; namespaces outside the four standard ones are declared on the element, as Sabre does. */
function element(name: Clark, inner: string): string {
  const close = name.indexOf('}');
  const ns = name.slice(1, close);
  const local = name.slice(close + 1);
  const prefix = PREFIXES.get(ns);
  let tag = `${prefix}:${local}`;
  let open = tag;
  if (prefix === undefined && ns === '') {
    tag = local;
    open = `${local} xmlns=""`;
  } else if (prefix === undefined) {
    tag = `x1:${local}`;
    open = `${tag} xmlns:x1="${escapeXml(ns)}"`;
  }
  return inner === '' ? `<${open}/>` : `<${open}>${inner}</${tag}>`;
}

function propstat(props: ReadonlyArray<readonly [Clark, string]>, status: string): string {
  return `<d:propstat><d:prop>${props.map(([n, v]) => element(n, v)).join('')}</d:prop><d:status>HTTP/1.1 ${status}</d:status></d:propstat>`;
}

/** A 207 body in Nextcloud's layout: the four namespaces declared once on the root, one line. */
export function renderMultistatus(responses: readonly DavResponse[]): string {
  const xmlns = [...PREFIXES].map(([ns, p]) => ` xmlns:${p}="${ns}"`).join('');
  const parts = responses.map((r) => {
    let out = `<d:response><d:href>${escapeXml(r.href)}</d:href>`;
    if (r.found.length > 0) out += propstat(r.found, '200 OK');
    if (r.missing.length > 0)
      out += propstat(
        r.missing.map((n) => [n, ''] as const),
        '404 Not Found',
      );
    return `${out}</d:response>`;
  });
  return `<?xml version="1.0"?>\n<d:multistatus${xmlns}>${parts.join('')}</d:multistatus>\n`;
}

import type { IRecognitionException, IToken } from 'chevrotain';
import { type Expr, type Position, type Range, type SourceFile, sourceFileSchema } from './ast.js';
import { CstToAst, tokenRange } from './cst-to-ast.js';
import { type Diagnostic, diagnostic, type PhaseResult } from './diagnostics.js';
import { LANGUAGE_VERSION } from './language.js';
import { parserInstance } from './parser.js';
import { didYouMean } from './suggest.js';
import { masLexer, UnterminatedString } from './tokens.js';

export * from './ast.js';
export { escapeString, reservedJsNames } from './cst-to-ast.js';
export * from './diagnostics.js';
export { type ImportTarget, importTarget, STDLIB_PREFIX } from './imports.js';
export { FILE_EXTENSION, LANGUAGE_VERSION } from './language.js';
export { printArguments, printExpr, sanctionTiming } from './print.js';
export { closest, didYouMean, editDistance } from './suggest.js';

// Control characters other than tab/newline/CR, Unicode bidirectional controls (the
// "Trojan Source" family) that make text read differently from how it parses, and U+FFFD,
// which a UTF-8 decoder puts where the bytes are not UTF-8 (runtime/sources.ts).
const badCharacter =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\ufffd]/g;

/** What a bad character is and what to do, for E_BAD_CHAR. */
function badCharacterMessage(ch: string): { message: string; hint: string } {
  if (ch === '\ufffd')
    return {
      message:
        'the source is not valid UTF-8 here (or holds U+FFFD, the character a decoder puts in place of such bytes)',
      hint: 'MASE sources are UTF-8: save the file as UTF-8, or delete the bytes',
    };
  return {
    message: `the character ${describeCharacter(ch)} is not allowed in MASE sources`,
    hint: 'control and bidirectional-override characters can make code read differently from how it runs; delete it',
  };
}

/** Position of a character offset (1-based line and column). */
export function positionAt(text: string, offset: number): Position {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1, offset };
}

function offsetRange(text: string, offset: number, length: number): Range {
  return { start: positionAt(text, offset), end: positionAt(text, offset + length) };
}

function describeCharacter(ch: string): string {
  return `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Phase 1: text → AST. Never throws for bad input: lexical, syntax and literal problems
 * become diagnostics and the AST holds everything that could still be read.
 */
export function parse(path: string, source: string): PhaseResult<SourceFile> {
  const diagnostics: Diagnostic[] = [];

  // Bad characters are reported, then blanked so the rest of the file still lexes.
  const text = source.replace(badCharacter, (ch, offset: number) => {
    const { message, hint } = badCharacterMessage(ch);
    diagnostics.push(diagnostic('E_BAD_CHAR', path, offsetRange(source, offset, 1), message, hint));
    return ' ';
  });

  const lexed = masLexer.tokenize(text);
  for (const error of lexed.errors) {
    const ch = text.slice(error.offset, error.offset + Math.max(1, error.length));
    diagnostics.push(
      diagnostic(
        'E_LEX',
        path,
        offsetRange(text, error.offset, Math.max(1, error.length)),
        ch.startsWith('"')
          ? 'this string is not closed on its line'
          : `unexpected character ${JSON.stringify(ch.slice(0, 1))}`,
        ch.startsWith('"')
          ? 'strings end on the same line they start; close it with `"`'
          : undefined,
      ),
    );
  }

  for (const t of lexed.tokens) {
    if (t.tokenType === UnterminatedString) {
      diagnostics.push(
        diagnostic(
          'E_LEX',
          path,
          tokenRange(t),
          'this string is not closed on its line',
          'strings end on the line they start; close it with `"`',
        ),
      );
    }
  }

  // Deep nesting would exhaust the call stack of the recursive phases; refuse it up front.
  const tooDeep = nestingProblem(lexed.tokens);
  if (tooDeep) {
    diagnostics.push(
      diagnostic('E_SYNTAX', path, tokenRange(tooDeep.token), tooDeep.message, tooDeep.hint),
    );
    const origin = { line: 1, column: 1, offset: 0 };
    return {
      value: {
        kind: 'file',
        path,
        declarations: [],
        comments: [],
        range: { start: origin, end: positionAt(text, text.length) },
      },
      diagnostics,
    };
  }

  parserInstance.input = lexed.tokens;
  const cst = parserInstance.file();
  for (const error of parserInstance.errors)
    diagnostics.push(syntaxDiagnostic(path, text, error, lexed.tokens));

  const endPosition = positionAt(text, text.length);
  const converter = new CstToAst(path, text.length, endPosition, (start, end) =>
    parseSegment(path, text, start, end, diagnostics),
  );
  const declarations = cst ? converter.declarations(cst) : [];
  const version = cst ? converter.version(cst) : undefined;
  const imports = cst ? converter.imports(cst) : [];
  diagnostics.push(...converter.diagnostics);

  if (version && version.value !== LANGUAGE_VERSION) {
    diagnostics.push(
      diagnostic(
        'E_VERSION',
        path,
        version.range,
        `this file is written for MASE language version ${version.value}; this compiler reads version ${LANGUAGE_VERSION}`,
        `change the first line to \`mase ${LANGUAGE_VERSION}\` after checking the file against docs/language.md`,
      ),
    );
  }

  const comments = (lexed.groups.comments ?? []).map((t) => ({
    text: t.image,
    range: tokenRange(t),
  }));
  const file: SourceFile = {
    kind: 'file',
    path,
    ...(version ? { version } : {}),
    ...(imports.length > 0 ? { imports } : {}),
    declarations,
    comments,
    range: { start: { line: 1, column: 1, offset: 0 }, end: endPosition },
  };
  const deepest = deepestExpression(declarations);
  if (deepest) {
    diagnostics.push(
      diagnostic(
        'E_SYNTAX',
        path,
        deepest,
        `this expression is nested more than ${MAX_EXPRESSION_DEPTH} levels deep`,
        'split it into several monitors, each using the one before',
      ),
    );
    return { value: { ...file, declarations: [] }, diagnostics: dedupe(diagnostics) };
  }
  const checked = sourceFileSchema.safeParse(file);
  if (!checked.success) {
    diagnostics.push(
      diagnostic(
        'E_INTERNAL',
        path,
        file.range,
        `internal error: the parser built an invalid syntax tree (${checked.error.issues[0]?.message ?? 'unknown'})`,
        'this is a bug in MASE; please report it with the source file',
      ),
    );
  }
  return { value: file, diagnostics: dedupe(diagnostics) };
}

/**
 * The source between two offsets parsed as one expression, with positions where it stands
 * (everything before it is blanked, lines kept): a notice's `{…}`. Problems are diagnostics.
 */
function parseSegment(
  path: string,
  text: string,
  start: number,
  end: number,
  diagnostics: Diagnostic[],
): Expr | undefined {
  const masked = text.slice(0, start).replace(/[^\n\r]/g, ' ') + text.slice(start, end);
  const lexed = masLexer.tokenize(masked);
  if (lexed.errors.length > 0 || lexed.tokens.length === 0) {
    diagnostics.push(
      diagnostic(
        'E_SYNTAX',
        path,
        offsetRange(text, start, Math.max(1, end - start)),
        'this value in a notice is not an expression',
        'write an expression between `{` and `}`, e.g. `{fine_share * profit[self]}`',
      ),
    );
    return undefined;
  }
  const tooDeep = nestingProblem(lexed.tokens);
  if (tooDeep) {
    diagnostics.push(
      diagnostic('E_SYNTAX', path, tokenRange(tooDeep.token), tooDeep.message, tooDeep.hint),
    );
    return undefined;
  }
  parserInstance.input = lexed.tokens;
  const cst = parserInstance.expression();
  if (parserInstance.errors.length > 0) {
    for (const error of parserInstance.errors)
      diagnostics.push(syntaxDiagnostic(path, masked, error, lexed.tokens));
    return undefined;
  }
  const converter = new CstToAst(path, masked.length, positionAt(masked, masked.length));
  const expr = converter.expression(cst);
  diagnostics.push(...converter.diagnostics);
  return expr;
}

export const MAX_BRACKET_DEPTH = 64;
export const MAX_EXPRESSION_DEPTH = 256;

const opening = new Set(['LParen', 'LBracket', 'LBrace']);
const closing = new Set(['RParen', 'RBracket', 'RBrace']);
const prefix = new Set(['Minus', 'Kw_not']);

function nestingProblem(
  tokens: readonly IToken[],
): { token: IToken; message: string; hint: string } | undefined {
  let depth = 0;
  let prefixRun = 0;
  for (const t of tokens) {
    const name = t.tokenType.name;
    if (opening.has(name)) depth++;
    else if (closing.has(name)) depth = Math.max(0, depth - 1);
    prefixRun = prefix.has(name) ? prefixRun + 1 : 0;
    if (depth > MAX_BRACKET_DEPTH) {
      return {
        token: t,
        message: `brackets nest more than ${MAX_BRACKET_DEPTH} levels deep here`,
        hint: 'split the expression into several monitors',
      };
    }
    if (prefixRun > MAX_BRACKET_DEPTH) {
      return {
        token: t,
        message: `more than ${MAX_BRACKET_DEPTH} \`-\` or \`not\` in a row`,
        hint: 'simplify the expression',
      };
    }
  }
  return undefined;
}

/** The range of the first expression deeper than the limit, found without recursion. */
function deepestExpression(declarations: readonly unknown[]): Range | undefined {
  const stack: { node: unknown; depth: number }[] = declarations.map((node) => ({
    node,
    depth: 0,
  }));
  while (stack.length > 0) {
    const { node, depth } = stack.pop() as { node: unknown; depth: number };
    if (node === null || typeof node !== 'object') continue;
    if (depth > MAX_EXPRESSION_DEPTH) return (node as { range?: Range }).range;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'range') continue;
      if (Array.isArray(value)) for (const v of value) stack.push({ node: v, depth: depth + 1 });
      else if (value && typeof value === 'object') stack.push({ node: value, depth: depth + 1 });
    }
  }
  return undefined;
}

const itemKeywords: Readonly<Record<string, readonly string[]>> = {
  file: ['import', 'market', 'environment', 'institution', 'experiment', 'sweep', 'intervention'],
  market: [
    'param',
    'firms',
    'products',
    'cost',
    'capacity',
    'action',
    'price',
    'demand',
    'observe',
  ],
  institution: [
    'param',
    'scope',
    'public',
    'private',
    'directive',
    'monitor',
    'rule',
    'state',
    'initial',
    'filter',
  ],
  stateDecl: [
    'when',
    'after',
    'notice',
    'fine',
    'credit',
    'each',
    'cap',
    'floor',
    'suspend',
    'mute',
    'quarantine',
    'paraphrase',
  ],
  environment: [
    'param',
    'agents',
    'action',
    'state',
    'let',
    'payoff',
    'next',
    'end',
    'observe',
    'benchmark',
    'policy',
    'metric',
    'draw',
    'kind',
    'computed',
  ],
  experiment: [
    'market',
    'environment',
    'institution',
    'agents',
    'rounds',
    'seed',
    'seeds',
    'horizon',
    'continuation',
    'checkpoint',
    'talk',
  ],
  sweep: ['base', 'factor', 'design', 'replicates', 'seed', 'budget'],
  intervention: [
    'agents',
    'institution',
    'param',
    'drop',
    'replace',
    'inject',
    'mute',
    'reset',
    'benchmark',
    'pardon',
  ],
};

const blockNames: Readonly<Record<string, string>> = {
  market: 'a market',
  environment: 'an environment',
  institution: 'an institution',
  stateDecl: 'a state',
  experiment: 'an experiment',
  sweep: 'a sweep',
  intervention: 'an intervention',
};

const friendlyTokenNames: Readonly<Record<string, string>> = {
  Identifier: 'a name',
  StringLiteral: 'a string',
  NumberLiteral: 'a number',
};

function syntaxDiagnostic(
  path: string,
  text: string,
  error: IRecognitionException,
  tokens: readonly IToken[],
): Diagnostic {
  const t = error.token;
  const atEnd = t.tokenType?.name === 'EOF' || !Number.isFinite(t.startOffset);
  const range = atEnd ? offsetRange(text, text.length, 0) : tokenRange(t);
  const found = atEnd ? 'the end of the file' : `\`${t.image}\``;
  const expected = summariseExpectation(error.message);
  if (atEnd && expected === "'}'") {
    // Point at the brace that is never closed, not at the empty end of the file.
    const unclosed = innermostOpenBrace(tokens, Number.POSITIVE_INFINITY);
    if (unclosed) {
      return diagnostic(
        'E_SYNTAX',
        path,
        tokenRange(unclosed),
        'this `{` is never closed',
        'add the missing `}` where the block ends',
      );
    }
  }
  const rule = error.context.ruleStack[error.context.ruleStack.length - 1] ?? 'file';
  const items = itemKeywords[rule];
  // The nearest block around this one (the stack also holds rules like `institutionItem`).
  const enclosing = error.context.ruleStack
    .slice(0, -1)
    .findLast((r) => itemKeywords[r] !== undefined);
  const enclosingItems = enclosing ? itemKeywords[enclosing] : undefined;
  if (
    !atEnd &&
    expected === "'}'" &&
    items &&
    !items.includes(t.image) &&
    enclosingItems?.includes(t.image)
  ) {
    // An item of the enclosing block (`state` inside a state) means this block's `}` is
    // missing: the mistake is at the brace, not at the item that reveals it.
    const unclosed = innermostOpenBrace(tokens, t.startOffset);
    if (unclosed) {
      const starts =
        enclosing === 'file'
          ? 'a new declaration'
          : `an item of ${blockNames[enclosing ?? ''] ?? enclosing}`;
      return diagnostic(
        'E_SYNTAX',
        path,
        tokenRange(unclosed),
        `this \`{\` is never closed: \`${t.image}\` on line ${t.startLine} starts ${starts}`,
        `add the missing \`}\` before line ${t.startLine}`,
      );
    }
  }
  if (items && !atEnd && (expected === "'}'" || rule === 'file')) {
    const where = rule === 'file' ? 'at the top level' : `in ${blockNames[rule] ?? rule}`;
    const suggestion = didYouMean(t.image, items);
    return diagnostic(
      'E_SYNTAX',
      path,
      range,
      `${found} cannot start an item ${where}`,
      suggestion ?? `items here start with one of: ${items.join(', ')}`,
    );
  }
  return diagnostic(
    'E_SYNTAX',
    path,
    range,
    `unexpected ${found}${expected ? `; expected ${expected}` : ''}`,
    hintFor(found),
  );
}

/** The last `{` still open before `offset`. */
function innermostOpenBrace(tokens: readonly IToken[], offset: number): IToken | undefined {
  const open: IToken[] = [];
  for (const token of tokens) {
    if (token.startOffset >= offset) break;
    if (token.tokenType.name === 'LBrace') open.push(token);
    else if (token.tokenType.name === 'RBrace') open.pop();
  }
  return open[open.length - 1];
}

// Chevrotain's messages list every alternative path; keep the expected token, or for
// "one of these possible Token sequences" the distinct first tokens.
function summariseExpectation(message: string): string | undefined {
  const single = /Expecting (?:token of type )?--> (.+?) <--/.exec(message);
  if (single?.[1]) return friendlyTokenNames[single[1]] ?? single[1];
  const many = message.match(/\[([^\]]+)\]/g);
  if (many && many.length > 0) {
    const firsts = [...new Set(many.map((m) => m.slice(1, -1).split(',')[0]?.trim() ?? ''))]
      .filter(Boolean)
      .map((f) => friendlyTokenNames[f] ?? f);
    if (firsts.length > 0) {
      const shown = firsts.slice(0, 6);
      return `one of ${shown.join(', ')}${firsts.length > shown.length ? ', …' : ''}`;
    }
  }
  return undefined;
}

function hintFor(found: string): string | undefined {
  if (found === '`=`') return 'comparisons use `==`; `=` only appears in declarations';
  return undefined;
}

function dedupe(diagnostics: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diagnostics.filter((d) => {
    const key = `${d.code}:${d.range.start.offset}:${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

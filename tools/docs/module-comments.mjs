// TypeDoc plugin: Telex documents each module in a leading doc comment (before its imports).
// TypeDoc would attach that comment to the module's first export instead; this plugin gives it to
// the module (entry points) or namespace (`export * as X from "./X.ts"`) and removes it from the
// declaration it was attached to.
import { Comment, CommentTag, Converter, ReflectionKind } from "typedoc"
import ts from "typescript"

/** the leading `/** … *\/` comment of a file, if it is the file's first token */
const fileComment = (sourceFile) => {
  const text = sourceFile.getFullText()
  const range = ts.getLeadingCommentRanges(text, 0)?.[0]
  if (range === undefined || !text.slice(range.pos, range.end).startsWith("/**")) return undefined
  return range
}

const toComment = (raw) => {
  const lines = raw.replace(/^\/\*\*/, "").replace(/\*\/$/, "").split("\n").map((l) => l.replace(/^\s*\* ?/, ""))
  const sections = [{ tag: undefined, lines: [] }]
  for (const line of lines) {
    const m = /^@(\w+)\s?(.*)$/.exec(line)
    if (m) sections.push({ tag: `@${m[1]}`, lines: m[2] ? [m[2]] : [] })
    else sections.at(-1).lines.push(line)
  }
  const text = (ls) => ls.join("\n").trim()
  const summary = [{ kind: "text", text: text(sections[0].lines) }]
  const tags = sections.slice(1).map(({ tag, lines: ls }) =>
    new CommentTag(tag, [tag === "@example" ? { kind: "code", text: "```ts\n" + text(ls) + "\n```" } : { kind: "text", text: text(ls) }])
  )
  return new Comment(summary, tags)
}

export function load(app) {
  const modules = []
  const attached = []
  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (context, reflection) => {
    const symbol = context.getSymbolFromReflection(reflection)
    const declaration = symbol?.declarations?.[0]
    if (declaration === undefined) return
    if (reflection.kindOf(ReflectionKind.Module | ReflectionKind.Namespace)) {
      const target = symbol.flags & ts.SymbolFlags.Alias ? context.checker.getAliasedSymbol(symbol) : symbol
      const file = target.declarations?.find(ts.isSourceFile)
      const range = file && fileComment(file)
      if (range) modules.push([reflection, file.getFullText().slice(range.pos, range.end)])
    }
    // a declaration whose leading comments include its file's module comment
    const file = declaration.getSourceFile()
    const range = fileComment(file)
    let statement = declaration
    while (statement.parent && !ts.isSourceFile(statement.parent)) statement = statement.parent
    if (range && (ts.getLeadingCommentRanges(file.getFullText(), statement.pos) ?? []).some((r) => r.pos === range.pos)) {
      attached.push(reflection)
    }
  })
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, () => {
    for (const reflection of attached) {
      if (!modules.some(([m]) => m === reflection)) reflection.comment = undefined
    }
    for (const [reflection, raw] of modules) reflection.comment = toComment(raw)
  }, 100)
}

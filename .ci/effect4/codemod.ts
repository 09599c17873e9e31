/**
 * The Effect 4 edition's codemod: rewrites a module written for Effect 3
 * into its Effect 4 form by an explicit rename table (see `renames.ts`),
 * on the syntax tree, never on raw text:
 * - an import's module specifier (`@effect/platform-node/NodeRuntime` →
 *   `@effect/platform-node/NodeRuntime` of its 4.x line, or another name);
 * - a module imported whole that Effect 4 exports from a barrel
 *   (`import * as HttpRouter from "@effect/platform/HttpRouter"` →
 *   `import { HttpRouter } from "effect/http"`);
 * - a member of an Effect module reached through the name it was imported
 *   under (`Effect.zipRight` → `Effect.andThen`, `Duration.DurationInput` →
 *   `Duration.Input`), in values and in types alike. A local name that is
 *   not an import of that module is left alone, so a user's own `Effect`
 *   variable or a property named `zipRight` elsewhere is never touched.
 * Modules whose Effect 4 form is more than renames are written by hand
 * beside their Effect 3 form (`X.effect4.ts` beside `X.ts`: see
 * docs/editions.md); the codemod does not see them.
 */
import ts from "typescript"

/** What the codemod renames: module specifiers, and members of Effect's modules by module name. */
export interface Renames {
  /** Import specifier → its Effect 4 specifier. */
  readonly modules: Readonly<Record<string, string>>
  /**
   * A module imported whole (`import * as HttpRouter from "@effect/platform/HttpRouter"`)
   * → the barrel that exports it in Effect 4 and its name there
   * (`import { HttpRouter } from "effect/http"`).
   */
  readonly barrels: Readonly<Record<string, readonly [barrel: string, member: string]>>
  /** Module name (`Effect`, `Layer`, …) → member → its Effect 4 name. */
  readonly members: Readonly<Record<string, Readonly<Record<string, string>>>>
}

interface Edit {
  readonly start: number
  readonly end: number
  readonly text: string
}

/** The Effect module a specifier names, e.g. `effect/Effect` → `Effect`; `undefined` for `effect` itself and for other packages. */
const moduleOfPath = (specifier: string): string | undefined => {
  const match = /^effect\/([A-Z][A-Za-z]*)$/.exec(specifier)
  return match === null ? undefined : match[1]
}

/** The local names bound to Effect's modules by the file's imports: `{ Effect, Layer as L }` from "effect", `* as Duration` from "effect/Duration". */
const localModules = (file: ts.SourceFile): Map<string, string> => {
  const locals = new Map<string, string>()
  for (const statement of file.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue
    const bindings = statement.importClause?.namedBindings
    if (bindings === undefined) continue
    const specifier = statement.moduleSpecifier.text
    if (specifier === "effect" && ts.isNamedImports(bindings)) {
      for (const element of bindings.elements) locals.set(element.name.text, (element.propertyName ?? element.name).text)
    } else if (ts.isNamespaceImport(bindings)) {
      const module = moduleOfPath(specifier)
      if (module !== undefined) locals.set(bindings.name.text, module)
    }
  }
  return locals
}

/** The edits of one file, by the table. */
const editsOf = (file: ts.SourceFile, renames: Renames): Array<Edit> => {
  const locals = localModules(file)
  const edits: Array<Edit> = []
  const rename = (left: ts.Node, right: ts.Identifier | ts.PrivateIdentifier) => {
    if (!ts.isIdentifier(left) || !ts.isIdentifier(right)) return
    const module = locals.get(left.text)
    const renamed = module === undefined ? undefined : renames.members[module]?.[right.text]
    if (renamed !== undefined) edits.push({ start: right.getStart(file), end: right.getEnd(), text: renamed })
  }
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier) && renames.barrels[node.moduleSpecifier.text] !== undefined) {
      const bindings = node.importClause?.namedBindings
      if (bindings !== undefined && ts.isNamespaceImport(bindings)) {
        const [barrel, member] = renames.barrels[node.moduleSpecifier.text]!
        const local = bindings.name.text
        const binding = local === member ? member : `${member} as ${local}`
        const typeOnly = node.importClause!.isTypeOnly ? "type " : ""
        edits.push({ start: node.getStart(file), end: node.getEnd(), text: `import ${typeOnly}{ ${binding} } from "${barrel}"` })
      }
    } else if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      const renamed = renames.modules[node.moduleSpecifier.text]
      if (renamed !== undefined) edits.push({ start: node.moduleSpecifier.getStart(file) + 1, end: node.moduleSpecifier.getEnd() - 1, text: renamed })
    } else if (ts.isPropertyAccessExpression(node)) {
      rename(node.expression, node.name)
    } else if (ts.isQualifiedName(node)) {
      rename(node.left, node.right)
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      const renamed = renames.modules[node.argument.literal.text]
      if (renamed !== undefined) edits.push({ start: node.argument.literal.getStart(file) + 1, end: node.argument.literal.getEnd() - 1, text: renamed })
    }
    ts.forEachChild(node, visit)
  }
  visit(file)
  return edits
}

/** The Effect 4 form of one module's source text. */
export const transform = (fileName: string, text: string, renames: Renames): string => {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
  let out = text
  for (const edit of editsOf(file, renames).sort((a, b) => b.start - a.start)) {
    out = out.slice(0, edit.start) + edit.text + out.slice(edit.end)
  }
  return out
}

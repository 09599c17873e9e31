/**
 * Naming the frames of CPU and heap profiles: the package a script belongs
 * to, or its file in the repository.
 */
/** Where a script lives: its package, or the repository file. */
export const origin = (url: string): string => {
  const modules = url.lastIndexOf("node_modules/")
  if (modules >= 0) {
    const rest = url.slice(modules + "node_modules/".length).split("/")
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  if (url === "") return "(native, gc, idle)"
  if (url.startsWith("node:")) return "node"
  return url.replace(/^file:\/\/.*?\/(src|bench)\//, "$1/")
}

/** The script's path inside its package or the repository. */
export const short = (url: string): string => {
  const modules = url.lastIndexOf("node_modules/")
  return modules >= 0 ? url.slice(modules + "node_modules/".length).replace("/dist/esm/", "/") : origin(url)
}

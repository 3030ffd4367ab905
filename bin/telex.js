#!/usr/bin/env node
// Telex runs its TypeScript sources directly, which needs Node >= 22.18 (type stripping).
const [major, minor] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  console.error(`telex needs Node.js >= 22.19 (this is ${process.version}). Inside the project, use \`npx telex\` or \`npm start\`, which use the Node 24 from node_modules.`)
  process.exit(1)
}
const { main } = await import("../src/cli/main.ts")
main()

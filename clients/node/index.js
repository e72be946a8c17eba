// index.js - the CommonJS entry of the pgml package: loads the addon and
// makes the error classes (one per status code, from the addon's table).
'use strict';

const addon = require('./build/Release/pgml.node');

// The base of every error a call rejects with: .code is the status name
// ("NOT_FOUND"), .status its number, .details the server's facts or null.
class PgmlError extends Error {
  constructor(message, codeName, status, details) {
    super(message);
    this.code = codeName;
    this.codeName = codeName;
    this.status = status;
    this.details = details === undefined ? null : details;
  }
}
Object.defineProperty(PgmlError.prototype, 'name', { value: addon.errorBase, writable: true });

const errors = {};
const byCode = [];
for (const info of addon.errors) {
  const cls = { [info.name]: class extends PgmlError {} }[info.name];
  Object.defineProperty(cls.prototype, 'name', { value: info.name, writable: true });
  errors[info.name] = cls;
  byCode[info.code] = cls;
}
addon.init(PgmlError, byCode);

const classes = {};
for (const name of addon.classNames) classes[name] = addon[name];

module.exports = {
  ...classes,
  Error: PgmlError,
  [addon.errorBase]: PgmlError,
  ...errors,
  libpgmlVersion: addon.libpgmlVersion,
};

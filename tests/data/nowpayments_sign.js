// Reference NOWPayments IPN signer, written from their documented JavaScript sample, used by
// tests/test_ipn_signature.py to check the Python verifier against a real JavaScript engine.
//
//   node nowpayments_sign.js SECRET < body.json          -> prints the hex signature of the body
//   node nowpayments_sign.js --lines SECRET < bodies     -> one body per input line, each given as
//                                                           a JSON string literal (so any body fits
//                                                           on a line); prints one signature per
//                                                           line, in the same order
'use strict';

const crypto = require('crypto');
const fs = require('fs');

function sortObject(obj) {
  return Object.keys(obj).sort().reduce((result, key) => {
    result[key] = (obj[key] && typeof obj[key] === 'object') ? sortObject(obj[key]) : obj[key];
    return result;
  }, {});
}

function sign(body, secret) {
  const hmac = crypto.createHmac('sha512', secret);
  hmac.update(JSON.stringify(sortObject(JSON.parse(body))));
  return hmac.digest('hex');
}

function readStdin() {
  // File descriptor 0 is the pipe the test writes to; the body is UTF-8.
  return fs.readFileSync(0).toString('utf8');
}

const args = process.argv.slice(2);
if (args[0] === '--lines') {
  const secret = args[1];
  const out = readStdin()
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => sign(JSON.parse(line), secret));
  process.stdout.write(out.map((sig) => sig + '\n').join(''));
} else {
  process.stdout.write(sign(readStdin(), args[0]) + '\n');
}

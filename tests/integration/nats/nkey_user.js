// nkey_user.js -- prints a new NATS user NKey pair, made with nkeys.js (the NATS
// project's own library): line 1 the seed (SU...), line 2 the public key (U...).
// Used by tests/integration/it_nats_auth.sh; never a fixed key.
"use strict";
const { createUser } = require("nkeys.js");
const kp = createUser();
process.stdout.write(new TextDecoder().decode(kp.getSeed()) + "\n" + kp.getPublicKey() + "\n");

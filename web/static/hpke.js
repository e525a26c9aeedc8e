// HPKE (RFC 9180) for document images, built from WebCrypto primitives:
// DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, base mode, one
// message per context. The capture page seals each photo to the workers'
// public key; only a worker holds the private key that opens it. The object
// is a small header (docs/encryption.md) followed by the ciphertext:
//
//   "IDVI" | 0x01 | kid length (1 byte) | kid | enc (65 bytes) | ciphertext
//
// The header is the AEAD's additional data, and the info names the capture
// and side (imageInfo), so an object cannot be altered, or moved to another
// side or person, without failing to open. openImage is the recipient, for
// tests: the page never has a private key.
(function (global) {
  "use strict";
  var subtle = global.crypto && global.crypto.subtle;
  var utf8 = new TextEncoder();

  var KEM_ID = 0x0010, KDF_ID = 0x0001, AEAD_ID = 0x0002;
  var N_SECRET = 32, N_K = 32, N_N = 12, N_ENC = 65;
  var MAGIC = utf8.encode("IDVI"), VERSION = 1;
  var ZEROS = new Uint8Array(32); // HKDF-Extract's default salt (HashLen zeros)
  var CURVE = { name: "ECDH", namedCurve: "P-256" };

  function concat() {
    var n = 0, i;
    for (i = 0; i < arguments.length; i++) n += arguments[i].length;
    var out = new Uint8Array(n), off = 0;
    for (i = 0; i < arguments.length; i++) { out.set(arguments[i], off); off += arguments[i].length; }
    return out;
  }

  function i2osp(n, w) {
    var b = new Uint8Array(w);
    for (var i = w - 1; i >= 0; i--) { b[i] = n & 0xff; n = n >>> 8; }
    return b;
  }

  var KEM_SUITE = concat(utf8.encode("KEM"), i2osp(KEM_ID, 2));
  var HPKE_SUITE = concat(utf8.encode("HPKE"), i2osp(KEM_ID, 2), i2osp(KDF_ID, 2), i2osp(AEAD_ID, 2));
  var V1 = utf8.encode("HPKE-v1");

  // labeledIKM and labeledInfo are RFC 9180's LabeledExtract and
  // LabeledExpand inputs.
  function labeledIKM(suite, label, ikm) { return concat(V1, suite, utf8.encode(label), ikm); }
  function labeledInfo(suite, label, info, L) { return concat(i2osp(L, 2), V1, suite, utf8.encode(label), info); }

  // labeledExtract is HKDF-Extract alone: HMAC-SHA256 keyed by the salt.
  function labeledExtract(suite, salt, label, ikm) {
    return subtle.importKey("raw", salt.length ? salt : ZEROS, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]).then(function (k) {
      return subtle.sign("HMAC", k, labeledIKM(suite, label, ikm));
    }).then(function (b) { return new Uint8Array(b); });
  }

  // extractExpand is LabeledExpand(LabeledExtract(salt, l1, ikm), l2, info,
  // L), one WebCrypto HKDF derivation.
  function extractExpand(suite, salt, l1, ikm, l2, info, L) {
    return subtle.importKey("raw", labeledIKM(suite, l1, ikm), "HKDF", false, ["deriveBits"]).then(function (k) {
      return subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: salt.length ? salt : ZEROS,
        info: labeledInfo(suite, l2, info, L) }, k, 8 * L);
    }).then(function (b) { return new Uint8Array(b); });
  }

  // sharedSecret is DHKEM's ExtractAndExpand(dh, enc || pkRm).
  function sharedSecret(dh, enc, pkRm) {
    return extractExpand(KEM_SUITE, new Uint8Array(0), "eae_prk", new Uint8Array(dh), "shared_secret", concat(enc, pkRm), N_SECRET);
  }

  // keySchedule is the base mode's KeySchedule: the AEAD key and base nonce.
  function keySchedule(shared, info) {
    var none = new Uint8Array(0);
    return Promise.all([
      labeledExtract(HPKE_SUITE, none, "psk_id_hash", none),
      labeledExtract(HPKE_SUITE, none, "info_hash", info)
    ]).then(function (h) {
      var ctx = concat(new Uint8Array([0]), h[0], h[1]); // mode_base
      return Promise.all([
        extractExpand(HPKE_SUITE, shared, "secret", none, "key", ctx, N_K),
        extractExpand(HPKE_SUITE, shared, "secret", none, "base_nonce", ctx, N_N)
      ]);
    }).then(function (kn) {
      return subtle.importKey("raw", kn[0], { name: "AES-GCM" }, false, ["encrypt", "decrypt"]).then(function (key) {
        return { key: key, nonce: kn[1] };
      });
    });
  }

  function header(kid, enc) {
    var id = utf8.encode(kid);
    if (id.length < 1 || id.length > 64 || !/^[A-Za-z0-9_-]+$/.test(kid)) throw new Error("bad key id");
    return concat(MAGIC, new Uint8Array([VERSION, id.length]), id, enc);
  }

  function bytes(b) { return b instanceof Uint8Array ? b : new Uint8Array(b); }

  // sealImage encrypts plaintext (ArrayBuffer or Uint8Array) to the raw
  // P-256 public key pkRm of key id kid, under info. It resolves to the
  // object to upload.
  function sealImage(pkRm, kid, info, plaintext) {
    pkRm = bytes(pkRm);
    return Promise.all([
      subtle.generateKey(CURVE, false, ["deriveBits"]),
      subtle.importKey("raw", pkRm, CURVE, false, [])
    ]).then(function (r) {
      return Promise.all([
        subtle.deriveBits({ name: "ECDH", public: r[1] }, r[0].privateKey, 256),
        subtle.exportKey("raw", r[0].publicKey)
      ]);
    }).then(function (r) {
      var enc = new Uint8Array(r[1]);
      if (enc.length !== N_ENC) throw new Error("unexpected encapsulated key");
      return sharedSecret(r[0], enc, pkRm).then(function (shared) {
        return keySchedule(shared, bytes(info));
      }).then(function (ks) {
        var hdr = header(kid, enc);
        return subtle.encrypt({ name: "AES-GCM", iv: ks.nonce, additionalData: hdr, tagLength: 128 }, ks.key, plaintext).then(function (ct) {
          return concat(hdr, new Uint8Array(ct));
        });
      });
    });
  }

  // openImage is the recipient: skR is the private key (PKCS #8), pkRm its
  // raw public key. It checks the header as a worker does and resolves to
  // the plaintext.
  function openImage(skR, pkRm, object, info) {
    object = bytes(object);
    pkRm = bytes(pkRm);
    var pre = MAGIC.length + 2;
    if (object.length < pre) return Promise.reject(new Error("truncated"));
    for (var i = 0; i < MAGIC.length; i++) if (object[i] !== MAGIC[i]) return Promise.reject(new Error("not an idv image"));
    if (object[MAGIC.length] !== VERSION) return Promise.reject(new Error("unknown version"));
    var kidLen = object[MAGIC.length + 1], size = pre + kidLen + N_ENC;
    if (object.length < size + 16) return Promise.reject(new Error("truncated"));
    var hdr = object.subarray(0, size), enc = object.subarray(size - N_ENC, size);
    return Promise.all([
      subtle.importKey("pkcs8", bytes(skR), CURVE, false, ["deriveBits"]),
      subtle.importKey("raw", enc, CURVE, false, [])
    ]).then(function (r) {
      return subtle.deriveBits({ name: "ECDH", public: r[1] }, r[0], 256);
    }).then(function (dh) {
      return sharedSecret(dh, enc, pkRm);
    }).then(function (shared) {
      return keySchedule(shared, bytes(info));
    }).then(function (ks) {
      return subtle.decrypt({ name: "AES-GCM", iv: ks.nonce, additionalData: hdr, tagLength: 128 }, ks.key, object.subarray(size));
    }).then(function (pt) { return new Uint8Array(pt); });
  }

  // imageInfo is the info of one side's image in a capture.
  function imageInfo(captureID, side) { return utf8.encode("idv/document-image/v1|" + captureID + "|" + side); }

  // fromBase64url decodes base64url without padding (how the page carries
  // the public key).
  function fromBase64url(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  global.idvHPKE = { sealImage: sealImage, openImage: openImage, imageInfo: imageInfo, fromBase64url: fromBase64url };
})(window);

// The document capture page. For each photo: check its type and size, then
// (pre-signed uploads) encrypt it in this browser with AES-256-GCM under one
// random key for the page and a fresh 12-byte IV per photo, and PUT only the
// ciphertext to the upload URL the server issued, showing progress. The form
// then sends the key, the IVs and the URLs, never the photos. With
// data-encryption="hpke" each photo is sealed instead to the workers' public
// key (hpke.js), and the form sends only the URLs: no key leaves this page.
// Without pre-signed uploads the photos are checked here and posted with
// the form.
(function () {
  "use strict";
  var form = document.getElementById("capture");
  if (!form) return;
  var presigned = form.getAttribute("data-presigned") === "true";
  var hpke = form.getAttribute("data-encryption") === "hpke";
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);
  var allowTestFiles = form.getAttribute("data-test-files") === "true";
  var imageTypes = ["image/jpeg", "image/png", "image/webp"];
  var formError = document.querySelector("[data-form-error]");
  var formErrorList = document.querySelector("[data-form-error-list]");
  var submit = form.querySelector("button[type=submit]");
  var keyPromise = null;
  var sides = {};
  var uploadURLs = uploadURLSource(form);

  function base64(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s);
  }

  // checkFile returns a message for a file the server would refuse.
  function checkFile(file) {
    if (!file) return "Add a photo.";
    if (file.size === 0) return "This file is empty. Choose another photo.";
    if (file.size > maxBytes) return "This photo is too large. Use a photo under " + Math.floor(maxBytes / 1048576) + " MB.";
    if (imageTypes.indexOf(file.type) >= 0) return "";
    if (allowTestFiles && /\.(ya?ml|json)$/i.test(file.name) && file.size <= 65536) return "";
    return "This file is not a photo. Use a JPEG, PNG or WebP image.";
  }

  // showFormError shows the page's error summary: each problem, linking to
  // its photo (a side, or none), and moves focus to it so it is read out.
  // No problems hide it.
  function showFormError(problems) {
    if (typeof problems === "string") problems = problems ? [{ text: problems }] : [];
    formErrorList.textContent = "";
    problems.forEach(function (p) {
      var li = document.createElement("li");
      var a = document.createElement(p.side ? "a" : "span");
      if (p.side) a.href = "#" + p.side;
      a.textContent = p.text;
      li.appendChild(a);
      formErrorList.appendChild(li);
    });
    formError.hidden = problems.length === 0;
    if (problems.length) formError.focus();
  }

  // showPreview shows the chosen photo under its input (nothing for a file
  // that is not a photo, or a test file).
  function showPreview(s, file) {
    if (s.previewURL) { URL.revokeObjectURL(s.previewURL); s.previewURL = null; }
    if (!file || imageTypes.indexOf(file.type) < 0 || !window.URL || !URL.createObjectURL) {
      s.preview.hidden = true;
      s.preview.removeAttribute("src");
      return;
    }
    s.previewURL = URL.createObjectURL(file);
    s.preview.src = s.previewURL;
    s.preview.alt = "The photo you chose for the " + s.side + " of your ID";
    s.preview.hidden = false;
  }

  // enableForm turns on the form, which the page sends disabled where it
  // cannot work without this script (pre-signed uploads).
  function enableForm() {
    var fs = form.querySelector("[data-needs-script]");
    if (fs) fs.disabled = false;
  }

  function setState(s, state, status, error) {
    s.el.setAttribute("data-state", state);
    s.status.textContent = status || "";
    s.error.textContent = error || "";
    s.error.hidden = !error;
    s.el.classList.toggle("field-error", !!error);
    if (error) s.input.setAttribute("aria-invalid", "true"); else s.input.removeAttribute("aria-invalid");
  }

  // put sends body to url, reporting progress in percent.
  function put(url, body, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.timeout = 120000;
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) onProgress(Math.round(100 * e.loaded / e.total));
      };
      xhr.onload = function () {
        if (xhr.status >= 200 && xhr.status < 300) { resolve(); return; }
        var e = new Error("upload refused: " + xhr.status);
        e.status = xhr.status;
        reject(e);
      };
      xhr.onerror = xhr.onabort = xhr.ontimeout = function () { reject(new Error("upload failed")); };
      xhr.send(body);
    });
  }

  // --- Upload URLs -------------------------------------------------------
  // The page is served without upload URLs. Before each PUT it asks the
  // server (a same-origin POST, like the form) for a URL for this side and
  // the ciphertext's exact length; the URL lives a few minutes and takes
  // exactly that many bytes. A URL is reused for a retry of the same length
  // while it has more than a margin left; near its expiry, for a new photo,
  // or after the store refused it (403: expired on the way), the page asks
  // for a fresh one, so a slow person never meets an expired URL.
  function uploadURLSource(form) {
    var endpoint = form.getAttribute("data-upload-url-endpoint");
    var held = {}; // side -> {url, size, expiresAt}

    function fresh(side, size) {
      var body = new URLSearchParams();
      body.set("capture_id", form.elements.capture_id.value);
      body.set("side", side);
      body.set("size", String(size));
      return fetch(endpoint, {
        method: "POST", body: body, credentials: "same-origin", redirect: "error",
        headers: { "Accept": "application/json" }
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (a) {
          if (!r.ok || !a.url) {
            var e = new Error(a.error || "upload URL refused: " + r.status);
            e.fromServer = !!a.error;
            e.reload = !!a.reload;
            throw e;
          }
          var ttl = (a.expires_in || 60) * 1000;
          held[side] = { url: a.url, size: size, expiresAt: Date.now() + ttl, margin: Math.min(60000, ttl / 2) };
          return a.url;
        });
      });
    }

    // urlFor returns a URL for side and size with time to spare.
    function urlFor(side, size) {
      var h = held[side];
      if (h && h.size === size && Date.now() < h.expiresAt - h.margin) return Promise.resolve(h.url);
      return fresh(side, size);
    }

    // put uploads body for side and resolves with the URL it went to. A
    // refusal for age (403) gets one retry with a fresh URL.
    function putFresh(side, body, onProgress) {
      var size = body.byteLength !== undefined ? body.byteLength : body.size; // ArrayBuffer, view or Blob
      return urlFor(side, size).then(function (url) {
        return put(url, body, onProgress).then(function () { return url; }, function (err) {
          if (!err || err.status !== 403) throw err;
          delete held[side];
          return fresh(side, size).then(function (again) {
            return put(again, body, onProgress).then(function () { return again; });
          });
        });
      });
    }

    return { put: putFresh };
  }
  // ------------------------------------------------------------------------

  function upload(s) {
    var file = s.input.files[0];
    var token = ++s.token; // a newer choice of photo supersedes this one
    form.elements[s.side + "_image_url"].value = "";
    if (!hpke) form.elements[s.side + "_image_iv"].value = "";
    s.retry.hidden = true;
    var msg = checkFile(file);
    if (msg) { s.progress.hidden = true; setState(s, "invalid", "", msg); return; }
    var iv = crypto.getRandomValues(new Uint8Array(12));
    s.progress.value = 0;
    s.progress.hidden = false;
    setState(s, "uploading", "Encrypting your photo…");
    Promise.all([keyPromise, file.arrayBuffer()]).then(function (r) {
      if (hpke) return idvHPKE.sealImage(r[0].key, r[0].id, idvHPKE.imageInfo(form.elements.capture_id.value, s.side), r[1]);
      return crypto.subtle.encrypt({ name: "AES-GCM", iv: iv }, r[0], r[1]);
    }).then(function (ciphertext) {
      if (token !== s.token) return null;
      setState(s, "uploading", "Uploading your photo…");
      return uploadURLs.put(s.side, ciphertext, function (pct) { if (token === s.token) s.progress.value = pct; });
    }).then(function (url) {
      if (!url || token !== s.token) return;
      if (!hpke) form.elements[s.side + "_image_iv"].value = base64(iv);
      form.elements[s.side + "_image_url"].value = url;
      s.progress.value = 100;
      setState(s, "done", "Uploaded.");
    }).catch(function (err) {
      if (token !== s.token) return;
      s.progress.hidden = true;
      s.retry.hidden = !!(err && err.reload);
      setState(s, "failed", "", (err && err.message && err.fromServer) ? err.message : "This photo didn't upload. Check your connection, then try again.");
    });
  }

  Array.prototype.forEach.call(form.querySelectorAll("[data-side]"), function (el) {
    var side = el.getAttribute("data-side");
    var s = {
      side: side, el: el, token: 0,
      input: el.querySelector("input[type=file]"),
      progress: el.querySelector("[data-progress]"),
      preview: el.querySelector("[data-preview]"),
      status: el.querySelector("[data-status]"),
      error: el.querySelector("[data-error]"),
      retry: el.querySelector("[data-retry]")
    };
    sides[side] = s;
    el.setAttribute("data-state", "empty");
    s.input.addEventListener("change", function () {
      showFormError("");
      showPreview(s, s.input.files[0]);
      if (presigned) { upload(s); return; }
      var msg = checkFile(s.input.files[0]);
      setState(s, msg ? "invalid" : "done", "", msg);
    });
    s.retry.addEventListener("click", function () { upload(s); });
  });

  if (presigned) {
    if (!window.crypto || !crypto.subtle || !window.Promise) {
      showFormError("Your browser can't encrypt your photos. Please use a current version of your browser.");
      submit.disabled = true;
      return;
    }
    enableForm();
    keyPromise = hpke ? new Promise(function (resolve) {
      // The workers' public key, as the page was given it.
      resolve({ id: form.getAttribute("data-image-key-id"), key: idvHPKE.fromBase64url(form.getAttribute("data-image-key")) });
    }) : crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]).then(function (key) {
      return crypto.subtle.exportKey("raw", key).then(function (raw) {
        form.elements.encryption_key.value = base64(raw);
        return key;
      });
    });
    keyPromise.catch(function () {
      showFormError("Your browser can't encrypt your photos. Please use a current version of your browser.");
      submit.disabled = true;
    });
  }

  // Coming back to this page from the browser's history re-enables it.
  window.addEventListener("pageshow", function () { submit.disabled = false; submit.textContent = "Continue"; });

  form.addEventListener("submit", function (e) {
    var problems = [];
    Object.keys(sides).forEach(function (side) {
      var s = sides[side];
      var state = s.el.getAttribute("data-state");
      if (state === "done") return;
      if (state === "uploading") { problems.push({ side: side, text: "Wait for the photo of the " + side + " of your ID to finish uploading." }); return; }
      if (state === "empty") setState(s, "invalid", "", "Add a photo of the " + side + " of your ID.");
      problems.push({ side: side, text: s.error.textContent || "Add a photo of the " + side + " of your ID." });
    });
    if (problems.length) {
      e.preventDefault();
      showFormError(problems);
      return;
    }
    submit.disabled = true;
    submit.textContent = presigned ? "Submitting…" : "Sending your photos…";
  });
})();

// The document capture page. For each photo: check its type and size, then
// (pre-signed uploads) encrypt it in this browser with AES-256-GCM under one
// random key for the page and a fresh 12-byte IV per photo, and PUT only the
// ciphertext to the upload URL the server issued, showing progress. The form
// then sends the key, the IVs and the URLs, never the photos. Without
// pre-signed uploads the photos are checked here and posted with the form.
(function () {
  "use strict";
  var form = document.getElementById("capture");
  if (!form) return;
  var presigned = form.getAttribute("data-presigned") === "true";
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);
  var allowTestFiles = form.getAttribute("data-test-files") === "true";
  var imageTypes = ["image/jpeg", "image/png", "image/webp"];
  var formError = document.querySelector("[data-form-error]");
  var formErrorList = document.querySelector("[data-form-error-list]");
  var submit = form.querySelector("button[type=submit]");
  var keyPromise = null;
  var sides = {};

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
        if (xhr.status >= 200 && xhr.status < 300) resolve(); else reject(new Error("upload refused: " + xhr.status));
      };
      xhr.onerror = xhr.onabort = xhr.ontimeout = function () { reject(new Error("upload failed")); };
      xhr.send(body);
    });
  }

  function upload(s) {
    var file = s.input.files[0];
    var token = ++s.token; // a newer choice of photo supersedes this one
    form.elements[s.side + "_image_url"].value = "";
    form.elements[s.side + "_image_iv"].value = "";
    s.retry.hidden = true;
    var msg = checkFile(file);
    if (msg) { s.progress.hidden = true; setState(s, "invalid", "", msg); return; }
    var iv = crypto.getRandomValues(new Uint8Array(12));
    s.progress.value = 0;
    s.progress.hidden = false;
    setState(s, "uploading", "Encrypting your photo…");
    Promise.all([keyPromise, file.arrayBuffer()]).then(function (r) {
      return crypto.subtle.encrypt({ name: "AES-GCM", iv: iv }, r[0], r[1]);
    }).then(function (ciphertext) {
      if (token !== s.token) return null;
      setState(s, "uploading", "Uploading your photo…");
      return put(s.url, ciphertext, function (pct) { if (token === s.token) s.progress.value = pct; }).then(function () { return true; });
    }).then(function (uploaded) {
      if (!uploaded || token !== s.token) return;
      form.elements[s.side + "_image_iv"].value = base64(iv);
      form.elements[s.side + "_image_url"].value = s.url;
      s.progress.value = 100;
      setState(s, "done", "Uploaded.");
    }).catch(function () {
      if (token !== s.token) return;
      s.progress.hidden = true;
      s.retry.hidden = false;
      setState(s, "failed", "", "This photo didn't upload. Check your connection, then try again.");
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
      retry: el.querySelector("[data-retry]"),
      url: form.getAttribute("data-" + side + "-url")
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
    keyPromise = crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]).then(function (key) {
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

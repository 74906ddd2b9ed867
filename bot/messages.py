"""Everything the service says to people, in Indonesian and English."""

from __future__ import annotations

from typing import Final

DEFAULT_LANGUAGE: Final = "en"

MESSAGES: Final[dict[str, dict[str, str]]] = {
    # --- Chat (channel-neutral) and Telegram ---
    "reason.absolute_path": {"id": "nama file tidak aman", "en": "unsafe file name"},
    "reason.path_traversal": {"id": "nama file tidak aman", "en": "unsafe file name"},
    "reason.symlink": {"id": "tautan, bukan file", "en": "a link, not a file"},
    "reason.encrypted": {"id": "file terenkripsi", "en": "encrypted file"},
    "reason.nested_archive": {"id": "arsip di dalam arsip", "en": "archive inside an archive"},
    "reason.zip_bomb": {"id": "ZIP terlalu besar saat dibuka", "en": "ZIP unpacks too large"},
    "reason.not_a_zip": {"id": "ZIP rusak", "en": "damaged ZIP"},
    "reason.too_many_images": {
        "id": "lebih dari 500 gambar",
        "en": "more than 500 images",
    },
    "reason.over_download_limit": {
        "id": "melebihi batas unduh {limit_mb} MB",
        "en": "over the {limit_mb} MB download limit",
    },
    "tier.basic": {"id": "Basic", "en": "Basic"},
    "tier.standard": {"id": "Standar", "en": "Standard"},
    "tier.professional": {"id": "Profesional", "en": "Professional"},
    "tier.industry": {"id": "Industri", "en": "Industry"},
    # What each tier is for, in a few words: its line in every quote (chat and API).
    "tier.basic.purpose": {
        "id": "produk sederhana, latar polos; tercepat",
        "en": "simple products, plain backdrops; fastest",
    },
    "tier.standard.purpose": {
        "id": "foto sehari-hari, tepi tanpa warna latar",
        "en": "everyday photos, edges free of old colour",
    },
    "tier.professional.purpose": {
        "id": "orang dan produk detail, tepi halus",
        "en": "people and detailed products, smooth edges",
    },
    "tier.industry.purpose": {
        "id": "rambut, bulu, kawat dan kaca",
        "en": "hair, fur, wires and glass",
    },
    "chat.cancel": {"id": "Batal", "en": "Cancel"},
    "chat.quote.header": {
        "id": "🖼 {count} gambar siap diproses.",
        "en": "🖼 {count} images ready to process.",
    },
    "chat.quote.header_one": {
        "id": "🖼 1 gambar siap diproses.",
        "en": "🖼 1 image ready to process.",
    },
    "chat.quote.discount": {
        "id": "🎁 Diskon volume {percent}% sudah termasuk.",
        "en": "🎁 {percent}% volume discount included.",
    },
    "chat.quote.tier_line": {
        "id": "{mark}{name}: {credits} kredit (Rp {rupiah})",
        "en": "{mark}{name}: {credits} credits (Rp {rupiah})",
    },
    "chat.quote.tier_line_discount": {
        "id": "{mark}{name}: {credits} kredit (Rp {rupiah}), bukan {gross}",
        "en": "{mark}{name}: {credits} credits (Rp {rupiah}), instead of {gross}",
    },
    "chat.quote.plan_mark": {
        "id": "★ = termasuk paket {plan} Anda (kuota harian)",
        "en": "★ = covered by your {plan} plan (daily quota)",
    },
    "chat.quote.balance": {
        "id": "💳 Saldo: {balance} kredit",
        "en": "💳 Balance: {balance} credits",
    },
    "chat.quote.quota": {
        "id": "📅 Kuota hari ini: {left} gambar lagi",
        "en": "📅 Today's quota: {left} more images",
    },
    "chat.quote.rejected": {
        "id": "Dilewati ({count}):",
        "en": "Skipped ({count}):",
    },
    "chat.quote.choose": {
        "id": "Pilih kualitas:",
        "en": "Choose a quality:",
    },
    "chat.quote.photo_hint": {
        "id": "💡 Foto dikompres oleh aplikasi chat. Kirim sebagai file untuk resolusi penuh.",
        "en": "💡 Photos are compressed by the chat app. Send them as files for full resolution.",
    },
    "chat.quote.cancelled": {
        "id": "Dibatalkan. Tidak ada kredit yang terpakai.",
        "en": "Cancelled. No credits were used.",
    },
    "chat.checking": {
        "id": "🔎 Memeriksa {count} file…",
        "en": "🔎 Checking {count} files…",
    },
    "chat.accepted.credits": {
        "id": "✅ {tier}: {credits} kredit dipotong, sisa saldo {balance}.",
        "en": "✅ {tier}: {credits} credits taken, balance now {balance}.",
    },
    "chat.accepted.quota": {
        "id": "✅ {tier}: dibayar dari kuota harian paket Anda.",
        "en": "✅ {tier}: paid from your plan's daily quota.",
    },
    "chat.accepted.queue_delayed": {
        "id": "Antrean sedang lambat; pekerjaan Anda aman dan akan segera diproses.",
        "en": "The queue is slow right now; your work is safe and will start shortly.",
    },
    "chat.cannot_afford": {
        "id": "Kredit tidak cukup: butuh {needed}, saldo {balance} (kurang {shortfall}).",
        "en": "Not enough credits: {needed} needed, balance {balance} ({shortfall} short).",
    },
    "chat.cannot_afford.topup": {
        "id": "Isi saldo dengan /buy atau berlangganan dengan /subscribe.",
        "en": "Top up with /buy or subscribe with /subscribe.",
    },
    "chat.cannot_afford.not_in_plan": {
        "id": "Paket Anda tidak mencakup kualitas ini.",
        "en": "Your plan does not cover this quality.",
    },
    "chat.error.generic": {
        "id": "Maaf, terjadi kesalahan. Silakan coba lagi.",
        "en": "Sorry, something went wrong. Please try again.",
    },
    "chat.error.quote_not_found": {
        "id": "Penawaran ini tidak ditemukan. Kirim gambarnya lagi.",
        "en": "This quote was not found. Please send the images again.",
    },
    "chat.error.quote_already_used": {
        "id": "Penawaran ini sudah dipakai; tidak ada biaya tambahan.",
        "en": "This quote was already used; nothing more was charged.",
    },
    "chat.error.tier_unavailable": {
        "id": "Kualitas ini sedang tidak tersedia di server. Tidak ada kredit yang dipotong; "
        "pilih kualitas lain.",
        "en": "This quality is not available on the server right now. Nothing was charged; "
        "choose another.",
    },
    "chat.error.quote_expired": {
        "id": "Penawaran ini kedaluwarsa. Kirim gambarnya lagi.",
        "en": "This quote has expired. Please send the images again.",
    },
    "chat.error.nothing_to_process": {
        "id": "Tidak ada gambar yang bisa diproses.",
        "en": "There is no image that can be processed.",
    },
    "chat.error.too_many_images": {
        "id": "Terlalu banyak gambar: maksimal 500 per batch.",
        "en": "Too many images: a batch holds at most 500.",
    },
    "chat.error.file_too_large": {
        "id": "File terlalu besar: batasnya {limit_mb} MB.",
        "en": "The file is too large: the limit is {limit_mb} MB.",
    },
    "chat.error.insufficient_balance": {
        "id": "Saldo kredit tidak cukup. Isi saldo dengan /buy.",
        "en": "Your credit balance is too low. Top up with /buy.",
    },
    "chat.error.account_not_found": {
        "id": "Akun tidak ditemukan.",
        "en": "Account not found.",
    },
    "chat.error.no_active_subscription": {
        "id": "Anda tidak punya paket aktif.",
        "en": "You have no active plan.",
    },
    "chat.error.invalid_amount": {"id": "Jumlah tidak valid.", "en": "Invalid amount."},
    "chat.error.unknown_plan": {
        "id": "Paket tidak dikenal: pilih starter atau pro.",
        "en": "Unknown plan: choose starter or pro.",
    },
    "chat.error.invalid_options": {
        "id": "Pengaturan itu tidak bisa dipakai: {detail}",
        "en": "Those settings cannot be used: {detail}",
    },
    "chat.error.not_found": {"id": "Tidak ditemukan.", "en": "Not found."},
    "chat.error.too_many_api_keys": {
        "id": "Maksimal 5 kunci API; cabut satu dulu.",
        "en": "At most 5 API keys; revoke one first.",
    },
    "chat.error.api_key_not_found": {
        "id": "Kunci API itu tidak ditemukan.",
        "en": "That API key was not found.",
    },
    "chat.error.link_code_unknown": {
        "id": "Kode tautan tidak dikenal.",
        "en": "Unknown link code.",
    },
    "chat.error.link_code_expired": {
        "id": "Kode tautan kedaluwarsa; minta kode baru.",
        "en": "The link code has expired; ask for a new one.",
    },
    "chat.error.link_code_used": {
        "id": "Kode tautan sudah dipakai.",
        "en": "The link code was already used.",
    },
    "chat.error.link_same_account": {
        "id": "Kode ini dari akun yang sama.",
        "en": "This code is from the same account.",
    },
    "chat.error.link_channel_taken": {
        "id": "Akun itu sudah tertaut ke nomor/ID lain di saluran ini.",
        "en": "That account is already linked to another identity on this channel.",
    },
    "chat.error.link_account_has_activity": {
        "id": "Akun ini sudah punya kredit atau riwayat; tidak bisa digabung.",
        "en": "This account already has credits or history; it cannot be merged.",
    },
    "chat.error.payment_not_found": {
        "id": "Pembayaran tidak ditemukan.",
        "en": "Payment not found.",
    },
    "chat.error.payment_already_refunded": {
        "id": "Pembayaran ini sudah dikembalikan.",
        "en": "This payment was already refunded.",
    },
    "tg.upload_too_large": {
        "id": (
            "Hasil {name} ({size_mb} MB) melebihi batas kirim Telegram {limit_mb} MB. "
            "Unduh lewat API HTTP (/apikey) atau kirim gambar beresolusi lebih kecil."
        ),
        "en": (
            "The result {name} ({size_mb} MB) is over Telegram's {limit_mb} MB upload limit. "
            "Download it over the HTTP API (/apikey) or send a smaller image."
        ),
    },
    "chat.error.link_code_error": {
        "id": "Kode tautan tidak bisa dipakai.",
        "en": "The link code cannot be used.",
    },
    "chat.welcome.new": {
        "id": (
            "Halo {name}! 👋 Saya menghapus latar belakang foto.\n"
            "🎁 Anda mendapat {welcome} kredit gratis."
        ),
        "en": ("Hello {name}! 👋 I remove photo backgrounds.\n🎁 You got {welcome} free credits."),
    },
    "chat.welcome.back": {
        "id": "Halo lagi, {name}! 👋",
        "en": "Welcome back, {name}! 👋",
    },
    "chat.welcome.balance": {
        "id": "💳 Saldo: {balance} kredit (1 kredit = Rp {credit_rp}).",
        "en": "💳 Balance: {balance} credits (1 credit = Rp {credit_rp}).",
    },
    "chat.welcome.send": {
        "id": "Kirim foto, file gambar, album, atau ZIP berisi gambar.",
        "en": "Send a photo, an image file, an album or a ZIP of images.",
    },
    "chat.help": {
        "id": (
            "Cara pakai:\n"
            "1. Kirim foto, file gambar (JPEG, PNG, WebP, HEIC, BMP, TIFF, GIF), album, "
            "atau ZIP (maks. 500 gambar).\n"
            "2. Pilih kualitas: Basic 3, Standar 8, Profesional 15, Industri 25 kredit "
            "per gambar. Diskon volume mulai 20 gambar.\n"
            "3. Terima PNG transparan, atau satu ZIP untuk banyak gambar.\n"
            "Hasil disimpan {days} hari."
        ),
        "en": (
            "How it works:\n"
            "1. Send a photo, an image file (JPEG, PNG, WebP, HEIC, BMP, TIFF, GIF), an album "
            "or a ZIP (up to 500 images).\n"
            "2. Choose a quality: Basic 3, Standard 8, Professional 15, Industry 25 credits "
            "per image. Volume discounts from 20 images.\n"
            "3. Get transparent PNGs back, or one ZIP for many images.\n"
            "Results are kept for {days} days."
        ),
    },
    "chat.stats.title": {"id": "📊 Statistik Anda", "en": "📊 Your statistics"},
    "chat.stats.images": {
        "id": "Gambar diproses: {total}",
        "en": "Images processed: {total}",
    },
    "chat.stats.tier_line": {"id": "• {name}: {count}", "en": "• {name}: {count}"},
    "chat.stats.spent": {
        "id": "Kredit terpakai: {credits} (Rp {rupiah})",
        "en": "Credits spent: {credits} (Rp {rupiah})",
    },
    "chat.stats.saved": {
        "id": "Hemat dari diskon: {credits} kredit",
        "en": "Saved by discounts: {credits} credits",
    },
    "chat.stats.balance": {"id": "Saldo: {balance} kredit", "en": "Balance: {balance} credits"},
    "chat.stats.plan": {
        "id": "Paket: {plan}, sisa kuota hari ini {left}",
        "en": "Plan: {plan}, {left} left in today's quota",
    },
    "chat.stats.no_plan": {"id": "Paket: tidak ada", "en": "Plan: none"},
    "chat.plans.title": {"id": "📦 Paket langganan (30 hari)", "en": "📦 Plans (30 days)"},
    "chat.plans.starter": {
        "id": "Starter: Rp {price}/bulan, {daily} gambar/hari, Basic dan Standar.",
        "en": "Starter: Rp {price}/month, {daily} images a day, Basic and Standard.",
    },
    "chat.plans.pro": {
        "id": (
            "Pro: Rp {price}/bulan, {daily} gambar/hari, semua kualitas "
            "(Profesional+Industri maks. {premium}/hari), antrean prioritas."
        ),
        "en": (
            "Pro: Rp {price}/month, {daily} images a day, every quality "
            "(Professional+Industry at most {premium} a day), priority processing."
        ),
    },
    "chat.plans.current": {
        "id": "Paket Anda: {plan}, aktif sampai {until}.",
        "en": "Your plan: {plan}, active until {until}.",
    },
    "chat.plans.current_cancelled": {
        "id": "Paket Anda: {plan}, berhenti pada {until} (tidak diperpanjang).",
        "en": "Your plan: {plan}, ends on {until} (not renewing).",
    },
    "chat.plans.none": {"id": "Anda belum berlangganan.", "en": "You have no plan yet."},
    "chat.plans.cancelled": {
        "id": "Perpanjangan dihentikan. Paket tetap aktif sampai {until}.",
        "en": "Renewal stopped. Your plan stays active until {until}.",
    },
    "chat.plans.started": {
        "id": "🎉 Paket {plan} aktif sampai {until}.",
        "en": "🎉 The {plan} plan is active until {until}.",
    },
    "chat.plans.rule": {
        "id": (
            "Satu paket aktif per akun. Membayar paket yang sama memperpanjangnya. Pindah paket "
            "(naik atau turun) berlaku sekarang: sisa hari paket lama dikembalikan sebagai "
            "kredit dan perpanjangan otomatisnya dihentikan. Hentikan perpanjangan menghentikan "
            "semua perpanjangan Anda; paket tetap aktif sampai masa bayarnya habis."
        ),
        "en": (
            "One plan per account. Paying for the same plan extends it. Switching plans (up "
            "or down) takes effect now: the unused days of the old plan come back as credits "
            "and its renewal stops. Stop renewal stops every renewal you have; the plan stays "
            "active until its paid period ends."
        ),
    },
    "chat.plans.credited": {
        "id": "Sisa hari paket sebelumnya dikembalikan: {credits} kredit.",
        "en": "The unused days of your previous plan came back as {credits} credits.",
    },
    "chat.plans.renewal_declined": {
        "id": (
            "Perpanjangan paket {plan} tidak dipakai karena paket itu sudah diganti atau "
            "perpanjangannya dihentikan. Bintang Anda dikembalikan."
        ),
        "en": (
            "This renewal of the {plan} plan was not applied: that plan was replaced or its "
            "renewal stopped. Your Stars are refunded."
        ),
    },
    "chat.packs.title": {
        "id": "💳 Beli kredit (saldo: {balance})",
        "en": "💳 Buy credits (balance: {balance})",
    },
    "chat.packs.line": {
        "id": "• {credits} kredit: {stars} ⭐",
        "en": "• {credits} credits: {stars} ⭐",
    },
    "chat.purchase.credited": {
        "id": "✅ {credits} kredit ditambahkan. Saldo: {balance}.",
        "en": "✅ {credits} credits added. Balance: {balance}.",
    },
    "chat.history.title": {"id": "🕘 Riwayat terbaru", "en": "🕘 Recent jobs"},
    "chat.history.empty": {"id": "Belum ada riwayat.", "en": "No jobs yet."},
    "chat.history.line": {
        "id": "#{batch} {date} · {tier} · {done}/{count} · {status}",
        "en": "#{batch} {date} · {tier} · {done}/{count} · {status}",
    },
    "chat.history.resend": {"id": "Kirim ulang #{batch}", "en": "Re-send #{batch}"},
    "chat.history.gone": {
        "id": "Hasil ini sudah dihapus (disimpan {days} hari).",
        "en": "These results were deleted (kept for {days} days).",
    },
    "chat.language.choose": {"id": "Pilih bahasa:", "en": "Choose a language:"},
    "chat.language.set": {
        "id": "Bahasa diganti ke Bahasa Indonesia.",
        "en": "Language set to English.",
    },
    "chat.settings.title": {"id": "⚙️ Pengaturan hasil", "en": "⚙️ Output settings"},
    "chat.settings.background": {"id": "Latar: {value}", "en": "Background: {value}"},
    "chat.settings.transparent": {"id": "transparan", "en": "transparent"},
    "chat.settings.crop": {"id": "Potong ke objek: {value}", "en": "Crop to subject: {value}"},
    "chat.settings.square": {"id": "Kanvas persegi: {value}", "en": "Square canvas: {value}"},
    "chat.settings.marketplace": {
        "id": "Preset marketplace (putih, persegi, ≥1000 px): {value}",
        "en": "Marketplace preset (white, square, ≥1000 px): {value}",
    },
    "chat.settings.format": {"id": "Format: {value}", "en": "Format: {value}"},
    "chat.settings.colour_hint": {
        "id": "Warna lain: /settings bg #RRGGBB",
        "en": "Another colour: /settings bg #RRGGBB",
    },
    "chat.on": {"id": "ya", "en": "on"},
    "chat.off": {"id": "tidak", "en": "off"},
    "chat.apikey.created": {
        "id": "🔑 Kunci API baru (hanya ditampilkan sekali, simpan baik-baik):\n{secret}",
        "en": "🔑 New API key (shown only once, keep it safe):\n{secret}",
    },
    "chat.apikey.list": {"id": "Kunci API Anda:", "en": "Your API keys:"},
    "chat.apikey.none": {
        "id": "Belum ada kunci API. Buat dengan /apikey new",
        "en": "No API keys yet. Create one with /apikey new",
    },
    "chat.apikey.line": {
        "id": "• #{key_id} {prefix}… {name} (dibuat {created})",
        "en": "• #{key_id} {prefix}… {name} (created {created})",
    },
    "chat.apikey.usage": {
        "id": "/apikey new [nama] · /apikey list · /apikey revoke ID",
        "en": "/apikey new [name] · /apikey list · /apikey revoke ID",
    },
    "chat.apikey.revoked": {"id": "Kunci #{key_id} dicabut.", "en": "Key #{key_id} revoked."},
    "chat.apikey.secret_button": {
        "id": "🔏 Rahasia callback: tampilkan baru / ganti",
        "en": "🔏 Callback secret: show new / rotate",
    },
    "chat.apikey.secret_warning": {
        "id": (
            "⚠️ Rahasia penandatangan callback yang baru menggantikan yang lama SAAT INI JUGA: "
            "callback berikutnya ditandatangani dengan yang baru, dan server Anda harus "
            "segera memakainya. Rahasia baru hanya ditampilkan sekali. Lanjutkan?"
        ),
        "en": (
            "⚠️ A new callback signing secret replaces the current one AT ONCE: the next "
            "callbacks are signed with the new one, and your server must switch to it now. "
            "The new secret is shown only once. Go ahead?"
        ),
    },
    "chat.apikey.secret_confirm": {
        "id": "🔁 Ganti sekarang",
        "en": "🔁 Rotate now",
    },
    "chat.apikey.secret_new": {
        "id": (
            "🔏 Rahasia callback baru (hanya ditampilkan sekali, simpan baik-baik):\n{secret}\n"
            "Yang lama sudah tidak berlaku."
        ),
        "en": (
            "🔏 New callback signing secret (shown only once, keep it safe):\n{secret}\n"
            "The old one no longer signs callbacks."
        ),
    },
    "chat.apikey.secret_stale": {
        "id": "Rahasia ini sudah diganti. Minta lagi lewat /apikey bila perlu.",
        "en": "This secret was replaced already. Ask again with /apikey if you need one.",
    },
    "chat.link.code": {
        "id": "Kirim kode ini dari WhatsApp dalam 10 menit untuk menautkan akun: {code}",
        "en": "Send this code from WhatsApp within 10 minutes to link your accounts: {code}",
    },
    "chat.link.done": {
        "id": "✅ Akun tertaut. Saldo dan riwayat kini sama di kedua saluran.",
        "en": "✅ Accounts linked. Balance and history are now shared by both channels.",
    },
    "chat.admin.only": {"id": "Perintah khusus operator.", "en": "Operators only."},
    "chat.admin.stats": {
        "id": (
            "👥 Pengguna: {users} · ⏳ Antrean: {waiting}\n"
            "🖼 Gambar: {images} berhasil, {failed} gagal"
        ),
        "en": "👥 Users: {users} · ⏳ Waiting: {waiting}\n🖼 Images: {images} done, {failed} failed",
    },
    "chat.admin.income_title": {"id": "💰 Pemasukan per sumber:", "en": "💰 Income by source:"},
    "chat.admin.income_line": {
        "id": "• {source}: {payments}×, {amount} (Rp {rupiah})",
        "en": "• {source}: {payments}×, {amount} (Rp {rupiah})",
    },
    "chat.admin.money_in": {
        "id": "Uang masuk (Stars dan rupiah): Rp {rupiah}",
        "en": "Money in (Stars and rupiah): Rp {rupiah}",
    },
    "chat.admin.grants_apart": {
        "id": "🎁 Kredit gratis (bukan pemasukan): {credits} kredit (Rp {rupiah})",
        "en": "🎁 Credits given (not income): {credits} credits (Rp {rupiah})",
    },
    "chat.admin.credits_back": {
        "id": "↩️ Sisa hari paket dikembalikan: {credits} kredit",
        "en": "↩️ Unused plan days credited back: {credits} credits",
    },
    "chat.admin.margin_title": {
        "id": "📈 Margin (pendapatan − biaya mesin gambar yang diproses):",
        "en": "📈 Margin (revenue − engine cost of the images processed):",
    },
    "chat.admin.margin_line": {
        "id": "• {name}: {images} gambar, Rp {revenue} − Rp {cost} = Rp {margin} ({percent})",
        "en": "• {name}: {images} images, Rp {revenue} − Rp {cost} = Rp {margin} ({percent})",
    },
    "chat.admin.margin_total": {
        "id": "Total: Rp {revenue} − Rp {cost} = Rp {margin} ({percent})",
        "en": "Total: Rp {revenue} − Rp {cost} = Rp {margin} ({percent})",
    },
    "chat.admin.source.stars_packs": {"id": "Paket kredit (Stars)", "en": "Credit packs (Stars)"},
    "chat.admin.source.stars_plans": {"id": "Langganan (Stars)", "en": "Plans (Stars)"},
    "chat.admin.source.credit_plans": {
        "id": "Langganan dibayar kredit",
        "en": "Plans paid with credits",
    },
    "chat.admin.line.plans": {"id": "Kuota langganan", "en": "Plan quotas"},
    "chat.admin.unit.XTR": {"id": "{amount} ⭐", "en": "{amount} ⭐"},
    "chat.admin.unit.credits": {"id": "{amount} kredit", "en": "{amount} credits"},
    "chat.admin.unit.IDR": {"id": "Rp {amount}", "en": "Rp {amount}"},
    "chat.admin.granted": {
        "id": "Akun {account}: saldo sekarang {balance}.",
        "en": "Account {account}: balance now {balance}.",
    },
    "chat.admin.plan_set": {
        "id": "Akun {account}: paket {plan} sampai {until}.",
        "en": "Account {account}: {plan} plan until {until}.",
    },
    "chat.admin.refunded": {
        "id": "Pembayaran {charge} dikembalikan; {credits} kredit ditarik.",
        "en": "Payment {charge} refunded; {credits} credits taken back.",
    },
    "chat.admin.usage": {
        "id": "Pakai: {usage}",
        "en": "Usage: {usage}",
    },
    "tg.buy.button": {
        "id": "{credits} kredit · {stars} ⭐",
        "en": "{credits} credits · {stars} ⭐",
    },
    "tg.plan.button": {"id": "{plan} · {stars} ⭐", "en": "{plan} · {stars} ⭐"},
    "tg.plan.cancel_button": {"id": "Hentikan perpanjangan", "en": "Stop renewal"},
    "tg.invoice.pack_title": {"id": "{credits} kredit", "en": "{credits} credits"},
    "tg.invoice.pack_description": {
        "id": "{credits} kredit untuk menghapus latar belakang (1 kredit = Rp {credit_rp}).",
        "en": "{credits} credits for background removal (1 credit = Rp {credit_rp}).",
    },
    "tg.invoice.plan_title": {"id": "Paket {plan} 30 hari", "en": "{plan} plan, 30 days"},
    "tg.invoice.pay": {"id": "Bayar {stars} ⭐ / 30 hari", "en": "Pay {stars} ⭐ / 30 days"},
    "tg.invoice.plan_description": {
        "id": "{daily} gambar per hari, diperpanjang tiap 30 hari sampai dihentikan.",
        "en": "{daily} images a day, renewed every 30 days until stopped.",
    },
    "tg.precheckout.invalid": {
        "id": "Penawaran ini sudah berubah. Buka /buy lagi.",
        "en": "This offer has changed. Please open /buy again.",
    },
    "tg.callback.done": {"id": "Oke", "en": "OK"},
    "progress": {
        "id": "⏳ Memproses gambar: {finished} / {total}",
        "en": "⏳ Processing images: {finished} / {total}",
    },
    "summary.done": {
        "id": "✅ Selesai: {succeeded} dari {total} gambar berhasil.",
        "en": "✅ Done: {succeeded} of {total} images succeeded.",
    },
    "summary.failed_header": {
        "id": "Tidak berhasil ({count}):",
        "en": "Not processed ({count}):",
    },
    "summary.refund": {
        "id": "💰 {credits} kredit dikembalikan ke saldo Anda.",
        "en": "💰 {credits} credits were refunded to your balance.",
    },
    "summary.quota_back": {
        "id": "{images} gambar dikembalikan ke kuota harian Anda.",
        "en": "{images} images were returned to your daily quota.",
    },
    "summary.all_failed": {
        "id": "❌ Tidak ada gambar yang berhasil diproses.",
        "en": "❌ No image could be processed.",
    },
    "summary.part": {
        "id": "Bagian {part} dari {parts}",
        "en": "Part {part} of {parts}",
    },
    "reason.not_an_image": {"id": "bukan gambar", "en": "not an image"},
    "reason.truncated": {"id": "file gambar rusak", "en": "damaged image file"},
    "reason.corrupt": {"id": "file gambar rusak", "en": "damaged image file"},
    "reason.too_many_pixels": {"id": "resolusi terlalu besar", "en": "resolution too large"},
    "reason.too_small": {"id": "gambar terlalu kecil", "en": "image too small"},
    "reason.file_too_large": {"id": "file terlalu besar", "en": "file too large"},
    "reason.engine_unavailable": {
        "id": "layanan sedang sibuk, coba lagi nanti",
        "en": "engine busy, please try again later",
    },
    "reason.worker_lost": {
        "id": "pemrosesan terhenti berulang kali",
        "en": "processing stopped repeatedly",
    },
    "reason.unknown": {"id": "kesalahan tak terduga", "en": "unexpected error"},
    # --- WhatsApp (list titles at most 24 characters, buttons at most 20) ---
    "wa.quote.button": {"id": "Pilih kualitas", "en": "Choose quality"},
    "wa.quote.section": {"id": "Kualitas", "en": "Quality"},
    "wa.quote.row": {
        "id": "{credits} kredit · Rp {rupiah}",
        "en": "{credits} credits · Rp {rupiah}",
    },
    "wa.quote.row_plan": {
        "id": "termasuk paket Anda",
        "en": "included in your plan",
    },
    "wa.quote.cancel_row": {"id": "Tidak ada biaya", "en": "Nothing is charged"},
    "wa.result.link": {
        "id": "📥 {name}\n{url}\nTautan pribadi, berlaku {days} hari.",
        "en": "📥 {name}\n{url}\nPrivate link, valid for {days} days.",
    },
    "wa.result.preview": {
        "id": "Pratinjau di atas latar putih (WhatsApp tidak menampilkan transparansi).",
        "en": "Preview on white (WhatsApp does not show transparency).",
    },
    "wa.media.failed": {
        "id": "File dari WhatsApp tidak dapat diambil. Silakan kirim ulang.",
        "en": "The file could not be fetched from WhatsApp. Please send it again.",
    },
    "wa.unsupported": {
        "id": "Kirim foto, gambar sebagai dokumen, atau ZIP berisi gambar. Ketik *help*.",
        "en": "Send a photo, an image as a document, or a ZIP of images. Type *help*.",
    },
    "wa.commands": {
        "id": "Perintah: *stats*, *beli*, *subscribe*, *saldo*, *link*, *help*.",
        "en": "Commands: *stats*, *buy*, *subscribe*, *balance*, *link*, *help*.",
    },
    "wa.plans.button": {"id": "Pilih paket", "en": "Choose a plan"},
    "wa.plans.section": {"id": "Paket 30 hari", "en": "30-day plans"},
    "wa.plans.row": {
        "id": "{credits} kredit dari saldo",
        "en": "{credits} credits from balance",
    },
    "wa.plans.stop_row": {"id": "Hentikan paket", "en": "Stop my plan"},
    "wa.plans.stop_row_desc": {
        "id": "Aktif sampai akhir periode",
        "en": "Stays active until period end",
    },
    "wa.plans.pay_hint": {
        "id": "Paket dibayar dengan kredit dari saldo Anda.",
        "en": "Plans are paid with credits from your balance.",
    },
    "wa.topup": {
        "id": "Beli kredit di bot Telegram kami (/buy) lalu tautkan akun dengan *link*, "
        "atau berlangganan dengan *subscribe*.",
        "en": "Buy credits in our Telegram bot (/buy) and link the accounts with *link*, "
        "or subscribe with *subscribe*.",
    },
    "wa.link.code": {
        "id": "Kirim */link {code}* ke bot Telegram kami dalam 10 menit untuk menautkan akun.",
        "en": "Send */link {code}* to our Telegram bot within 10 minutes to link your accounts.",
    },
    # --- Chat extras: honest quotes, help, cancel, preview, redo, referrals, promo codes ---
    # A key ending in ".one" is the singular of the key without it (see `text_count`).
    "chat.checking.one": {"id": "🔎 Memeriksa 1 file…", "en": "🔎 Checking 1 file…"},
    "chat.quote.quota.one": {
        "id": "📅 Kuota hari ini: 1 gambar lagi",
        "en": "📅 Today's quota: 1 more image",
    },
    "quote.quota_covers": {
        "id": "✅ Kuota hari ini membayar batch ini untuk: {tiers} (tanpa kredit).",
        "en": "✅ Today's quota pays for this batch at: {tiers} (no credits).",
    },
    "quote.quota_short": {
        "id": (
            "⚠️ {tiers}: kuota hari ini tinggal {left}, kurang dari {count} gambar ini, jadi "
            "seluruh batch dibayar dengan kredit (batch dibayar penuh oleh kuota atau penuh "
            "dengan kredit)."
        ),
        "en": (
            "⚠️ {tiers}: today's quota has {left} left, fewer than these {count} images, so "
            "the whole batch is paid in credits (a batch is paid wholly by the quota or "
            "wholly in credits)."
        ),
    },
    "quote.next_discount": {
        "id": (
            "💡 Tambah {more} gambar untuk diskon {percent}%: {next} gambar {tier} = "
            "{next_credits} kredit (sekarang {count} gambar = {credits})."
        ),
        "en": (
            "💡 Add {more} more images for {percent}% off: {next} {tier} images = "
            "{next_credits} credits (now {count} images = {credits})."
        ),
    },
    "quote.next_discount.one": {
        "id": (
            "💡 Tambah 1 gambar untuk diskon {percent}%: {next} gambar {tier} = "
            "{next_credits} kredit (sekarang {count} gambar = {credits})."
        ),
        "en": (
            "💡 Add 1 more image for {percent}% off: {next} {tier} images = "
            "{next_credits} credits (now {count} images = {credits})."
        ),
    },
    "quote.plan_short": {
        "id": "Kuota hari ini tinggal {left} gambar, kurang dari {count}: batch dibayar kredit.",
        "en": "Today's quota has {left} left, fewer than {count} images: credits pay the batch.",
    },
    "summary.done.one": {
        "id": "✅ Selesai: {succeeded} dari 1 gambar berhasil.",
        "en": "✅ Done: {succeeded} of 1 image succeeded.",
    },
    "summary.refund.one": {
        "id": "💰 1 kredit dikembalikan ke saldo Anda.",
        "en": "💰 1 credit was refunded to your balance.",
    },
    "summary.quota_back.one": {
        "id": "1 gambar dikembalikan ke kuota harian Anda.",
        "en": "1 image was returned to your daily quota.",
    },
    "summary.cancelled": {
        "id": "⏹ {count} gambar dibatalkan sebelum diproses.",
        "en": "⏹ {count} images were cancelled before processing.",
    },
    "summary.cancelled.one": {
        "id": "⏹ 1 gambar dibatalkan sebelum diproses.",
        "en": "⏹ 1 image was cancelled before processing.",
    },
    "help.intro": {
        "id": (
            "ℹ️ Cara pakai\n"
            "1. Kirim foto, file gambar (JPEG, PNG, WebP, HEIC, BMP, TIFF, GIF), album, atau "
            "ZIP (maks. 500 gambar). Kirim sebagai file untuk resolusi penuh.\n"
            "2. Anda menerima penawaran harga{preview}.\n"
            "3. Pilih kualitas: hasil kembali sebagai PNG transparan, atau satu ZIP untuk batch."
        ),
        "en": (
            "ℹ️ How it works\n"
            "1. Send a photo, an image file (JPEG, PNG, WebP, HEIC, BMP, TIFF, GIF), an album "
            "or a ZIP (up to 500 images). Send files, not photos, for full resolution.\n"
            "2. You get a price quote{preview}.\n"
            "3. Choose a quality: results come back as transparent PNGs, or one ZIP for a batch."
        ),
    },
    "help.preview": {
        "id": " dan pratinjau gratis bertanda air dari gambar pertama ({count} per hari)",
        "en": " and a free watermarked preview of the first image ({count} a day)",
    },
    "help.tiers": {
        "id": "🎚 Kualitas (kredit per gambar, 1 kredit = Rp {credit_rp})",
        "en": "🎚 Qualities (credits per image, 1 credit = Rp {credit_rp})",
    },
    "help.tier.basic": {
        "id": "tercepat; produk sederhana di latar polos",
        "en": "fastest; simple products on plain backgrounds",
    },
    "help.tier.standard": {
        "id": "foto produk sehari-hari",
        "en": "everyday product photos",
    },
    "help.tier.professional": {
        "id": "tepi detail, katalog",
        "en": "detailed edges, catalogues",
    },
    "help.tier.industry": {
        "id": "tepi terbaik: rambut, bulu, kabel, kaca",
        "en": "best edges: hair, fur, wires, glass",
    },
    "help.tier_line": {
        "id": "• {name}: {credits} (Rp {rupiah}), {purpose}",
        "en": "• {name}: {credits} (Rp {rupiah}), {purpose}",
    },
    "help.discounts": {
        "id": "🎁 Diskon volume per batch: {bands}.",
        "en": "🎁 Volume discounts per batch: {bands}.",
    },
    "help.band": {"id": "{low}-{high} gambar {percent}%", "en": "{low}-{high} images {percent}%"},
    "help.plans": {
        "id": (
            "📦 Paket 30 hari: Starter Rp {starter_price}, {starter_daily} gambar/hari (Basic, "
            "Standar). Pro Rp {pro_price}, {pro_daily} gambar/hari, semua kualitas "
            "(Profesional+Industri maks. {premium}/hari), antrean prioritas. Satu batch dibayar "
            "penuh oleh kuota hari ini, atau penuh dengan kredit."
        ),
        "en": (
            "📦 30-day plans: Starter Rp {starter_price}, {starter_daily} images a day (Basic, "
            "Standard). Pro Rp {pro_price}, {pro_daily} a day, every quality "
            "(Professional+Industry at most {premium} a day), priority processing. A batch is "
            "paid wholly by today's quota, or else wholly in credits."
        ),
    },
    "help.pay": {
        "id": "💳 Bayar: /buy untuk paket kredit, /subscribe untuk paket langganan.",
        "en": "💳 Paying: /buy for credit packs, /subscribe for plans.",
    },
    "help.kept": {
        "id": "🕘 File dan hasil disimpan {days} hari; /history mengirim ulang atau mengulang.",
        "en": "🕘 Uploads and results are kept {days} days; /history re-sends or redoes them.",
    },
    "help.invite": {
        "id": (
            "🤝 /invite: Anda dan teman masing-masing dapat {credits} kredit setelah batch "
            "berbayar pertamanya. /promo KODE menukar kode promo."
        ),
        "en": (
            "🤝 /invite: you and a friend each get {credits} credits after their first paid "
            "batch. /promo CODE redeems a promo code."
        ),
    },
    "help.commands": {
        "id": (
            "Perintah: /start /help /stats /buy /subscribe /history /settings /language "
            "/apikey /link /invite /promo"
        ),
        "en": (
            "Commands: /start /help /stats /buy /subscribe /history /settings /language "
            "/apikey /link /invite /promo"
        ),
    },
    "help.support": {"id": "❓ Bantuan: {contact}", "en": "❓ Support: {contact}"},
    "batch.cancel": {"id": "⏹ Batalkan sisanya", "en": "⏹ Cancel the rest"},
    "batch.cancelled": {
        "id": "⏹ {count} gambar yang belum diproses dibatalkan.",
        "en": "⏹ {count} images not yet started were cancelled.",
    },
    "batch.cancelled.one": {
        "id": "⏹ 1 gambar yang belum diproses dibatalkan.",
        "en": "⏹ 1 image not yet started was cancelled.",
    },
    "batch.cancel_refund": {
        "id": "💰 {credits} kredit dikembalikan. Hasil yang sudah jadi tetap dikirim.",
        "en": "💰 {credits} credits refunded. Results already made are still delivered.",
    },
    "batch.cancel_quota": {
        "id": "{images} gambar dikembalikan ke kuota harian. Hasil yang sudah jadi tetap dikirim.",
        "en": "{images} images returned to today's quota. Finished results are still delivered.",
    },
    "batch.cancel_nothing": {
        "id": "Semua gambar sudah diproses atau sedang diproses; tidak ada yang dibatalkan.",
        "en": "Every image has already started or finished; nothing was cancelled.",
    },
    "preview.caption": {
        "id": "👀 Pratinjau gratis (Basic, kecil, bertanda air). Sisa hari ini: {left}.",
        "en": "👀 Free preview (Basic, small, watermarked). Left today: {left}.",
    },
    "preview.limit": {
        "id": "Pratinjau gratis hari ini sudah habis ({limit} per hari).",
        "en": "No free previews left today ({limit} a day).",
    },
    "redo.button": {"id": "🔁 Ulang: {tier}", "en": "🔁 Redo: {tier}"},
    "redo.history_button": {"id": "🔁 Ulang #{batch}", "en": "🔁 Redo #{batch}"},
    "redo.one_button": {"id": "🔁 Ulang satu gambar", "en": "🔁 Redo one image"},
    "redo.history_one_button": {
        "id": "🔁 Satu gambar #{batch}",
        "en": "🔁 One image of #{batch}",
    },
    "redo.pick": {
        "id": (
            "Pilih satu gambar dari batch #{batch} ({shown} dari {total}) untuk diulang dengan "
            "kualitas lain, tanpa mengunggah lagi. Harganya penawaran baru untuk 1 gambar."
        ),
        "en": (
            "Pick one image of batch #{batch} ({shown} of {total}) to redo at another tier, "
            "without uploading again. It is priced as a new one-image quote."
        ),
    },
    "redo.more": {"id": "▶ Berikutnya", "en": "▶ More"},
    "redo.gone_one": {
        "id": "File asli gambar ini sudah dihapus (disimpan {days} hari). Kirim gambarnya lagi.",
        "en": (
            "This image's original file was deleted (kept for {days} days). Please send it again."
        ),
    },
    "redo.checking": {
        "id": "🔁 Menyiapkan penawaran baru dari file yang sama…",
        "en": "🔁 Preparing a new quote from the same files…",
    },
    "redo.offer": {
        "id": "Ingin kualitas lebih tinggi? Ulangi tanpa mengunggah lagi:",
        "en": "Want a higher quality? Redo it without uploading again:",
    },
    "redo.gone": {
        "id": "File asli sudah dihapus (disimpan {days} hari). Kirim gambarnya lagi.",
        "en": "The original files were deleted (kept for {days} days). Please send them again.",
    },
    "invite.link": {
        "id": (
            "🤝 Undang teman dengan tautan ini:\n{link}\n"
            "Anda mendapat {referrer} kredit dan teman Anda {invitee} kredit setelah batch "
            "berbayar pertamanya selesai."
        ),
        "en": (
            "🤝 Invite a friend with this link:\n{link}\n"
            "You get {referrer} credits and your friend {invitee} credits once their first "
            "paid batch is done."
        ),
    },
    "invite.code": {
        "id": "🤝 Kode undangan Anda: {code}. Teman mengetik *invite {code}* di sini.",
        "en": "🤝 Your invite code: {code}. A friend types *invite {code}* here.",
    },
    "invite.joined": {
        "id": "🤝 Anda diundang oleh teman: bonus {credits} kredit setelah batch berbayar pertama.",
        "en": "🤝 A friend invited you: {credits} bonus credits after your first paid batch.",
    },
    "invite.rewarded": {
        "id": "🎉 Bonus undangan: {credits} kredit ditambahkan.",
        "en": "🎉 Invitation bonus: {credits} credits added.",
    },
    "invite.referrer_rewarded": {
        "id": (
            "🎉 Teman yang Anda undang menyelesaikan batch berbayar pertamanya: {credits} kredit "
            "bonus undangan masuk ke saldo Anda. Saldo: {balance}."
        ),
        "en": (
            "🎉 A friend you invited finished their first paid batch: {credits} invitation "
            "bonus credits are in your balance. Balance: {balance}."
        ),
    },
    "promo.redeemed": {
        "id": "🎁 Kode promo diterima: {credits} kredit ditambahkan. Saldo: {balance}.",
        "en": "🎁 Promo code accepted: {credits} credits added. Balance: {balance}.",
    },
    "promo.usage": {"id": "Pakai: /promo KODE", "en": "Usage: /promo CODE"},
    "promo.created": {
        "id": "Kode {code}: {credits} kredit, {uses} kali, berlaku sampai {until}.",
        "en": "Code {code}: {credits} credits, {uses} uses, valid until {until}.",
    },
    "chat.error.promo_unknown": {
        "id": "Kode promo tidak dikenal.",
        "en": "Unknown promo code.",
    },
    "chat.error.promo_expired": {
        "id": "Kode promo ini sudah kedaluwarsa.",
        "en": "This promo code has expired.",
    },
    "chat.error.promo_used_up": {
        "id": "Kode promo ini sudah habis dipakai.",
        "en": "This promo code has been used up.",
    },
    "chat.error.promo_already_redeemed": {
        "id": "Anda sudah memakai kode promo ini.",
        "en": "You have already redeemed this promo code.",
    },
    "chat.error.promo_exists": {
        "id": "Kode promo itu sudah ada.",
        "en": "That promo code already exists.",
    },
    "chat.error.self_referral": {
        "id": "Anda tidak bisa memakai tautan undangan sendiri.",
        "en": "You cannot use your own invite link.",
    },
    "chat.error.referral_closed": {
        "id": "Undangan hanya berlaku untuk akun baru.",
        "en": "Invitations are only for new accounts.",
    },
    "chat.error.referral_unknown": {
        "id": "Kode undangan tidak dikenal.",
        "en": "Unknown invite code.",
    },
    "chat.error.batch_not_found": {
        "id": "Batch ini tidak ditemukan.",
        "en": "This batch was not found.",
    },
    "chat.error.inputs_gone": {
        "id": "File asli sudah dihapus. Kirim gambarnya lagi.",
        "en": "The original files were deleted. Please send them again.",
    },
    "reason.input_deleted": {
        "id": "file asli sudah dihapus",
        "en": "original file deleted",
    },
    "wa.commands.extras": {
        "id": "Undang teman: *invite*. Kode promo: *promo KODE*.",
        "en": "Invite a friend: *invite*. Promo code: *promo CODE*.",
    },
    "wa.cancel_button": {"id": "Batalkan sisanya", "en": "Cancel the rest"},
    "wa.redo_button": {"id": "Ulang: {tier}", "en": "Redo: {tier}"},
    # --- Rupiah payments by payment link (QRIS, e-wallets, virtual accounts) ---
    "pay.packs.title": {
        "id": "💳 Bayar dalam rupiah (QRIS, GoPay, ShopeePay, OVO, DANA, virtual account):",
        "en": "💳 Pay in rupiah (QRIS, GoPay, ShopeePay, OVO, DANA, bank virtual account):",
    },
    "pay.pack.line": {
        "id": "Rp {amount} → {credits} kredit",
        "en": "Rp {amount} → {credits} credits",
    },
    "pay.pack.line_bonus": {
        "id": "Rp {amount} → {credits} kredit (bonus {bonus}%)",
        "en": "Rp {amount} → {credits} credits ({bonus}% bonus)",
    },
    "pay.plan.line": {
        "id": "Paket {plan}: Rp {amount} / 30 hari",
        "en": "{plan} plan: Rp {amount} / 30 days",
    },
    "pay.plans.title": {
        "id": "💳 Atau bayar 30 hari dalam rupiah (QRIS, e-wallet, virtual account):",
        "en": "💳 Or pay 30 days in rupiah (QRIS, e-wallet, bank virtual account):",
    },
    "pay.receipt.credits": {
        "id": "✅ Pembayaran diterima: Rp {amount} ({method})\n+{credits} kredit\n"
        "Saldo sekarang: {balance} kredit\nNo. pesanan: {order_id}",
        "en": "✅ Payment received: Rp {amount} ({method})\n+{credits} credits\n"
        "New balance: {balance} credits\nOrder: {order_id}",
    },
    "pay.receipt.plan": {
        "id": "✅ Pembayaran diterima: Rp {amount} ({method})\nPaket {plan} aktif sampai {ends}\n"
        "Saldo: {balance} kredit\nNo. pesanan: {order_id}",
        "en": "✅ Payment received: Rp {amount} ({method})\n{plan} plan active until {ends}\n"
        "Balance: {balance} credits\nOrder: {order_id}",
    },
    "pay.renewal": {
        "id": "⏰ Paket {plan} Anda berakhir {ends}. Perpanjang 30 hari (Rp {amount}):\n{url}",
        "en": "⏰ Your {plan} plan ends on {ends}. Renew for 30 days (Rp {amount}):\n{url}",
    },
    "pay.expired": {
        "id": "⌛ Tautan pembayaran Rp {amount} (pesanan {order_id}) sudah kedaluwarsa; tidak ada "
        "yang ditagih. Minta tautan baru dengan {how}.",
        "en": "⌛ The payment link for Rp {amount} (order {order_id}) has expired; nothing was "
        "charged. Get a new link with {how}.",
    },
    "pay.failed": {
        "id": "❌ Pembayaran Rp {amount} (pesanan {order_id}) gagal; tidak ada yang ditagih.",
        "en": "❌ The payment of Rp {amount} (order {order_id}) failed; nothing was charged.",
    },
    "pay.refunded.credits": {
        "id": "↩️ Dana Rp {refunded} dikembalikan (pesanan {order_id}); {credits} kredit "
        "ditarik dari saldo.",
        "en": "↩️ Rp {refunded} refunded (order {order_id}); {credits} credits taken back from "
        "your balance.",
    },
    "pay.refunded.shortfall": {
        "id": "{shortfall} kredit sudah terpakai sehingga tidak dapat ditarik.",
        "en": "{shortfall} credits were already spent and could not be taken back.",
    },
    "pay.refunded.plan_ended": {
        "id": "↩️ Dana Rp {refunded} dikembalikan (pesanan {order_id}); paket {plan} berakhir.",
        "en": "↩️ Rp {refunded} refunded (order {order_id}); the {plan} plan has ended.",
    },
    "pay.refunded.plan_kept": {
        "id": "↩️ Dana Rp {refunded} dikembalikan (pesanan {order_id}); paket {plan} tetap aktif.",
        "en": "↩️ Rp {refunded} refunded (order {order_id}); the {plan} plan stays active.",
    },
    "pay.page.title": {"id": "Pembayaran", "en": "Payment"},
    "pay.page.pack": {
        "id": "{credits} kredit untuk Rp {amount}",
        "en": "{credits} credits for Rp {amount}",
    },
    "pay.page.plan": {
        "id": "Paket {plan} 30 hari untuk Rp {amount}",
        "en": "{plan} plan for 30 days, Rp {amount}",
    },
    "pay.page.button": {
        "id": "Bayar dengan QRIS, e-wallet atau bank",
        "en": "Pay with QRIS, e-wallet or bank",
    },
    "pay.page.invalid": {
        "id": "Tautan pembayaran ini tidak valid.",
        "en": "This payment link is not valid.",
    },
    "chat.error.payments_unavailable": {
        "id": "Pembayaran rupiah sedang tidak tersedia. Coba lagi sebentar lagi.",
        "en": "Rupiah payments are unavailable right now. Please try again shortly.",
    },
    "chat.error.unknown_product": {
        "id": "Produk ini tidak dijual.",
        "en": "This product is not on sale.",
    },
    "chat.error.order_not_found": {
        "id": "Pesanan tidak ditemukan.",
        "en": "Order not found.",
    },
    "remind.low_balance": {
        "id": "💳 Saldo Anda tinggal {balance} kredit. Isi ulang: {how}",
        "en": "💳 Your balance is down to {balance} credits. Top up: {how}",
    },
    "remind.plan_ending": {
        "id": "📅 Paket {plan} Anda berakhir {ends}. Perpanjang: {how}",
        "en": "📅 Your {plan} plan ends on {ends}. Renew: {how}",
    },
    "remind.results_expiring": {
        "id": "🗑 Hasil batch #{batch} akan dihapus {ends}. Unduh sebelum itu ({how}).",
        "en": "🗑 The results of batch #{batch} will be deleted on {ends}. Download them before "
        "then ({how}).",
    },
    "remind.off_hint": {
        "id": "Matikan pengingat: {how}",
        "en": "Turn reminders off: {how}",
    },
    "remind.toggle_on": {"id": "🔔 Pengingat: aktif", "en": "🔔 Reminders: on"},
    "remind.toggle_off": {"id": "🔕 Pengingat: mati", "en": "🔕 Reminders: off"},
    "remind.now_on": {"id": "🔔 Pengingat aktif.", "en": "🔔 Reminders are on."},
    "remind.now_off": {"id": "🔕 Pengingat dimatikan.", "en": "🔕 Reminders are off."},
    "pay.income.title": {
        "id": "💳 Pemasukan rupiah per metode (setelah refund):",
        "en": "💳 Rupiah income by method (after refunds):",
    },
    "pay.income.line": {
        "id": "• {method}: {orders} pesanan, Rp {amount}",
        "en": "• {method}: {orders} orders, Rp {amount}",
    },
    "pay.income.none": {"id": "• belum ada", "en": "• none yet"},
    "wa.topup_rupiah": {
        "id": "Ketik *beli* untuk isi kredit (QRIS, e-wallet, virtual account), "
        "atau berlangganan dengan *subscribe*.",
        "en": "Type *buy* to top up (QRIS, e-wallet, bank virtual account), "
        "or subscribe with *subscribe*.",
    },
    "wa.pay.button": {"id": "Pilih paket kredit", "en": "Choose a pack"},
    "wa.pay.section": {"id": "Kredit dalam rupiah", "en": "Credits in rupiah"},
    "wa.pay.row": {"id": "QRIS, e-wallet, bank", "en": "QRIS, e-wallet, bank"},
}


def text(key: str, language: str, **values: object) -> str:
    """Render message `key` in `language` (English when the language is not supported)."""
    variants = MESSAGES[key]
    template = variants.get(language) or variants[DEFAULT_LANGUAGE]
    return template.format(**values)


def text_count(key: str, language: str, count: int, **values: object) -> str:
    """Render `key`, or its singular `key.one` when `count` is 1 and the singular exists."""
    singular = f"{key}.one"
    chosen = singular if count == 1 and singular in MESSAGES else key
    return text(chosen, language, count=count, **values)


def reason(code: str, language: str) -> str:
    """Say why an image was refused or failed, from its reason code."""
    key = f"reason.{code}"
    return text(key if key in MESSAGES else "reason.unknown", language)

--[[
computehub's Slurm-side guard for notebook sessions: a job_submit/lua script.

Closes what a user could otherwise do around the portal with Slurm's own commands:
  * submit a job in a portal partition (the GPUs the portal sells) directly with sbatch;
  * submit a job named like a portal session (jupyterhub-*), to confuse reconciliation;
  * change a portal job (scontrol update of its time limit, GRES/TRES, partition,
    nodes, name, comment, requeue flag, hold/release...), e.g. ask for more GPUs
    than its hold paid for while it is pending, or make it requeueable.
Root, SlurmUser and the uids in admin_uids (the hub's service user, which extends
sessions with scontrol) are never refused.

A job is the portal's when its comment holds a valid ticket:
  computehub-ticket:v2:<issued>:<expires>:<nonce>:<mac>
where mac = HMAC-SHA256(key, "v2\n<cluster>\n<uid>\n<name>\n<partition>\n<time limit in
minutes>\n<GRES as in --gres, e.g. gpu:h100:1, or empty>\n<CPUs per task>\n<memory per
node, MB>\n<exclusive: 1 or 0>\n<issued>\n<expires>\n<nonce>"), the key being shared by the
hub and this controller only (ticket_key_file, mode 0600; one key per cluster) and
<cluster> this guard's `cluster` setting (the hub's name in the site file). A ticket is
refused once expired, if it is valid for longer than max_ticket_ttl_s, if it was issued
before this script was loaded (a restart or reload forgets used nonces: tickets from
before it can't be replayed), or if its nonce was seen before (one-time use). The job
must also be one task on one node, not an array, not requeueable, with GPUs as --gres
only. The hub side is spawners/jobticket.py.

Installation (Slurm 22.05, Debian 12's slurm-wlm ships job_submit_lua.so, built on
Lua 5.1, which has no bit operations: SHA-256 is done here with arithmetic):
  slurm.conf:   JobSubmitPlugins=lua (the hub refuses to start without it when it has
                this cluster's key) and PrivateData=jobs (users see only their own jobs)
  this file:    job_submit.lua, in the directory of slurm.conf
  beside it:    computehub-guard.conf (see hub_config/slurm/computehub-guard.conf)
slurmctld reloads this script when it changes.
]]

local GUARD_CONF = "computehub-guard.conf"
local TICKET_PREFIX = "computehub-ticket:"
local NAME_PREFIX = "jupyterhub-"
local TWO32 = 4294967296
-- Slurm's NO_VAL16: a 16-bit option the job did not set.
local NO_VAL16 = 65534
-- When this script was loaded: tickets issued before are refused (see the header).
local LOADED = os.time()

-- Configuration --------------------------------------------------------------------

local function script_dir()
  local source = debug.getinfo(1, "S").source
  return source:match("^@(.*)/[^/]*$") or "."
end

local function read_file(path)
  local file = io.open(path, "r")
  if file == nil then
    return nil
  end
  local text = file:read("*a")
  file:close()
  return text
end

local function load_conf(dir)
  local conf = {
    portal_partitions = {},
    admin_uids = { [0] = true },
    cluster = nil,
    key = nil,
    max_ttl = 600,
    problems = {},
  }
  local text = read_file(dir .. "/" .. GUARD_CONF)
  if text == nil then
    table.insert(conf.problems, "no " .. dir .. "/" .. GUARD_CONF)
    return conf
  end
  for line in text:gmatch("[^\n]+") do
    local key, value = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
    if key ~= nil and not line:match("^%s*#") then
      if key == "portal_partitions" then
        for name in value:gmatch("[^,%s]+") do
          conf.portal_partitions[name] = true
        end
      elseif key == "admin_uids" then
        for uid in value:gmatch("%d+") do
          conf.admin_uids[tonumber(uid)] = true
        end
      elseif key == "ticket_key_file" then
        local secret = read_file(value)
        if secret == nil then
          table.insert(conf.problems, "ticket key " .. value .. " can't be read")
        else
          secret = secret:gsub("%s+", "")
          if #secret < 32 then
            table.insert(conf.problems, "ticket key " .. value .. " is shorter than 32 characters")
          else
            conf.key = secret
          end
        end
      elseif key == "max_ticket_ttl_s" then
        conf.max_ttl = tonumber(value) or conf.max_ttl
      elseif key == "cluster" and value ~= "" then
        conf.cluster = value
      end
    end
  end
  if conf.key ~= nil and conf.cluster == nil then
    table.insert(conf.problems, "no cluster (the hub's name in the site file) in " .. GUARD_CONF)
    conf.key = nil
  end
  return conf
end

local CONF = load_conf(script_dir())

-- SHA-256 and HMAC on Lua 5.1 numbers (32-bit words as doubles) --------------------

local XOR8, AND8 = {}, {}
do
  local xor4, and4 = {}, {}
  for i = 0, 15 do
    for j = 0, 15 do
      local x, a, bit, ii, jj = 0, 0, 1, i, j
      for _ = 1, 4 do
        local bi, bj = ii % 2, jj % 2
        if bi ~= bj then
          x = x + bit
        elseif bi == 1 then
          a = a + bit
        end
        ii, jj, bit = (ii - bi) / 2, (jj - bj) / 2, bit * 2
      end
      xor4[i * 16 + j], and4[i * 16 + j] = x, a
    end
  end
  for i = 0, 255 do
    local ih, il = math.floor(i / 16), i % 16
    for j = 0, 255 do
      local jh, jl = math.floor(j / 16), j % 16
      XOR8[i * 256 + j] = xor4[ih * 16 + jh] * 16 + xor4[il * 16 + jl]
      AND8[i * 256 + j] = and4[ih * 16 + jh] * 16 + and4[il * 16 + jl]
    end
  end
end

local function bitop(table8, a, b)
  local result, place = 0, 1
  for _ = 1, 4 do
    local ab, bb = a % 256, b % 256
    result = result + table8[ab * 256 + bb] * place
    a, b, place = (a - ab) / 256, (b - bb) / 256, place * 256
  end
  return result
end

local function bxor(a, b)
  return bitop(XOR8, a, b)
end

local function band(a, b)
  return bitop(AND8, a, b)
end

local function bnot(a)
  return TWO32 - 1 - a
end

local function rotr(x, n)
  local low = x % 2 ^ n
  return (x - low) / 2 ^ n + low * 2 ^ (32 - n)
end

local function shr(x, n)
  return math.floor(x / 2 ^ n)
end

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

local function be32(x)
  local b4 = x % 256
  x = (x - b4) / 256
  local b3 = x % 256
  x = (x - b3) / 256
  local b2 = x % 256
  local b1 = (x - b2) / 256
  return string.char(b1, b2, b3, b4)
end

local function sha256(msg)
  local h = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  }
  local bits = #msg * 8
  msg = msg .. "\128" .. string.rep("\0", (55 - #msg) % 64)
    .. be32(math.floor(bits / TWO32)) .. be32(bits % TWO32)
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do
      local b1, b2, b3, b4 = msg:byte(chunk + i * 4, chunk + i * 4 + 3)
      w[i] = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
    end
    for i = 16, 63 do
      local w15, w2 = w[i - 15], w[i - 2]
      local s0 = bxor(bxor(rotr(w15, 7), rotr(w15, 18)), shr(w15, 3))
      local s1 = bxor(bxor(rotr(w2, 17), rotr(w2, 19)), shr(w2, 10))
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) % TWO32
    end
    local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
    for i = 0, 63 do
      local s1 = bxor(bxor(rotr(e, 6), rotr(e, 11)), rotr(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = (hh + s1 + ch + K[i + 1] + w[i]) % TWO32
      local s0 = bxor(bxor(rotr(a, 2), rotr(a, 13)), rotr(a, 22))
      local maj = bxor(bxor(band(a, b), band(a, c)), band(b, c))
      local t2 = (s0 + maj) % TWO32
      hh, g, f, e, d, c, b, a = g, f, e, (d + t1) % TWO32, c, b, a, (t1 + t2) % TWO32
    end
    h[1], h[2], h[3], h[4] = (h[1] + a) % TWO32, (h[2] + b) % TWO32, (h[3] + c) % TWO32, (h[4] + d) % TWO32
    h[5], h[6], h[7], h[8] = (h[5] + e) % TWO32, (h[6] + f) % TWO32, (h[7] + g) % TWO32, (h[8] + hh) % TWO32
  end
  local out = {}
  for i = 1, 8 do
    out[i] = be32(h[i])
  end
  return table.concat(out)
end

local function xor_bytes(text, byte)
  return (text:gsub(".", function(c)
    return string.char(bxor(c:byte(), byte))
  end))
end

local function hmac_sha256_hex(key, msg)
  if #key > 64 then
    key = sha256(key)
  end
  key = key .. string.rep("\0", 64 - #key)
  local inner = sha256(xor_bytes(key, 0x36) .. msg)
  local digest = sha256(xor_bytes(key, 0x5c) .. inner)
  return (digest:gsub(".", function(c)
    return string.format("%02x", c:byte())
  end))
end

-- Tickets ------------------------------------------------------------------------

local USED = {} -- nonce -> expiry: each ticket starts one job

local function starts_with(value, prefix)
  return value ~= nil and tostring(value):sub(1, #prefix) == prefix
end

local function same(a, b)
  if #a ~= #b then
    return false
  end
  local diff = 0
  for i = 1, #a do
    if a:byte(i) ~= b:byte(i) then
      diff = diff + 1
    end
  end
  return diff == 0
end

local function gres_of(tres_per_node)
  if tres_per_node == nil then
    return ""
  end
  return (tostring(tres_per_node):gsub("^gres[:/]", ""))
end

-- A number as the hub writes it ("" when Slurm gives none).
local function number(value)
  if value == nil then
    return ""
  end
  return tostring(value)
end

-- "1" when the job may have its node to itself (--exclusive, =user, =mcs), else "0".
local function exclusive(shared)
  if shared == nil or shared == NO_VAL16 or shared == 1 then
    return "0"
  end
  return "1"
end

local function ticket_message(job_desc, issued, expires, nonce)
  return table.concat({
    "v2",
    tostring(CONF.cluster or ""),
    tostring(job_desc.user_id),
    tostring(job_desc.name or ""),
    tostring(job_desc.partition or ""),
    tostring(job_desc.time_limit),
    gres_of(job_desc.tres_per_node),
    number(job_desc.cpus_per_task),
    number(job_desc.min_mem_per_node),
    exclusive(job_desc.shared),
    tostring(issued),
    tostring(expires),
    nonce,
  }, "\n")
end

-- Why the job is not of the portal's shape (one task on one node, GPUs as --gres only,
-- never requeued), or nil.
local function shape_refusal(job_desc)
  if job_desc.tres_per_job ~= nil or job_desc.tres_per_task ~= nil
    or job_desc.tres_per_socket ~= nil or job_desc.cpus_per_tres ~= nil
    or job_desc.mem_per_tres ~= nil then
    return "it asks for GPUs in a way the portal does not"
  end
  if job_desc.requeue ~= 0 then
    return "it may be requeued"
  end
  if job_desc.array_inx ~= nil or job_desc.min_nodes ~= 1 or job_desc.max_nodes ~= 1
    or job_desc.num_tasks ~= 1 then
    return "it is not one job of one task on one node"
  end
  local per_task = job_desc.cpus_per_task
  local per_node = job_desc.pn_min_cpus
  if per_node ~= nil and per_node ~= NO_VAL16 and (per_task == nil or per_node > per_task) then
    return "it asks for CPUs in a way the portal does not"
  end
  return nil
end

-- Why the job's ticket is not valid, or nil when it is (and is then used up). Returns
-- what the user is told and what the log says (which may name files).
local function ticket_refusal(job_desc, now)
  local issued, expires, nonce, mac = tostring(job_desc.comment or ""):match(
    "^computehub%-ticket:v2:(%d+):(%d+):(%x+):(%x+)$"
  )
  if issued == nil then
    return "it carries no portal ticket"
  end
  if CONF.key == nil then
    return "the portal's tickets can't be checked on this cluster; tell its operators",
      "no usable ticket key: " .. table.concat(CONF.problems, "; ")
  end
  issued, expires = tonumber(issued), tonumber(expires)
  if expires < now then
    return "its ticket has expired"
  end
  if expires > now + CONF.max_ttl or expires - issued > CONF.max_ttl then
    return "its ticket is valid for too long"
  end
  if issued < LOADED then
    return "its ticket was issued before this cluster's guard was loaded"
  end
  if USED[nonce] ~= nil then
    return "its ticket was used already"
  end
  local shape = shape_refusal(job_desc)
  if shape ~= nil then
    return shape
  end
  local expected = hmac_sha256_hex(CONF.key, ticket_message(job_desc, issued, expires, nonce))
  if not same(expected, mac:lower()) then
    return "its ticket does not match the job"
  end
  for used, until_ in pairs(USED) do
    if until_ < now then
      USED[used] = nil
    end
  end
  USED[nonce] = expires
  return nil
end

local function in_portal_partition(partition, part_list)
  if partition == nil then
    for name, part in pairs(part_list or {}) do
      if part.flag_default == 1 then
        partition = part.name or name
      end
    end
  end
  for name in tostring(partition or ""):gmatch("[^,]+") do
    if CONF.portal_partitions[name] then
      return true
    end
  end
  return false
end

local function refuse(message, detail, uid)
  slurm.log_info("computehub guard: refused for uid %s: %s", tostring(uid), detail)
  slurm.log_user("computehub: %s", message)
  return slurm.ERROR
end

-- Slurm's hooks ------------------------------------------------------------------

function slurm_job_submit(job_desc, part_list, submit_uid)
  if CONF.admin_uids[submit_uid] then
    return slurm.SUCCESS
  end
  local portal = in_portal_partition(job_desc.partition, part_list)
  if not (portal or starts_with(job_desc.name, NAME_PREFIX)
    or starts_with(job_desc.comment, TICKET_PREFIX)) then
    return slurm.SUCCESS
  end
  local why, detail = ticket_refusal(job_desc, os.time())
  if why == nil then
    return slurm.SUCCESS
  end
  return refuse(
    "notebook sessions, and jobs in the partitions they use, are started from the portal only ("
      .. why .. ")",
    "job " .. tostring(job_desc.name) .. ": " .. (detail or why),
    submit_uid
  )
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
  if CONF.admin_uids[modify_uid] then
    return slurm.SUCCESS
  end
  if starts_with(job_rec.name, NAME_PREFIX) or starts_with(job_rec.comment, TICKET_PREFIX) then
    return refuse(
      "a notebook session is changed through the portal only",
      "change of portal job " .. tostring(job_rec.job_id) .. " (" .. tostring(job_rec.name) .. ")",
      modify_uid
    )
  end
  if starts_with(job_desc.name, NAME_PREFIX) or starts_with(job_desc.comment, TICKET_PREFIX)
    or (job_desc.partition ~= nil and in_portal_partition(job_desc.partition, part_list)) then
    return refuse(
      "only the portal starts jobs in the partitions notebook sessions use",
      "job " .. tostring(job_rec.job_id) .. " made to look like a portal job",
      modify_uid
    )
  end
  return slurm.SUCCESS
end

-- For tests and operators (e.g. checking a key): the guard's pure parts.
computehub_guard = {
  hmac_sha256_hex = hmac_sha256_hex,
  sha256 = sha256,
  ticket_message = ticket_message,
  problems = CONF.problems,
  loaded = LOADED,
}

if #CONF.problems > 0 then
  slurm.log_error("computehub guard: %s", table.concat(CONF.problems, "; "))
end

return slurm.SUCCESS

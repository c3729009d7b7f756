-- Wireshark dissector for Cairn v1 (spec/cairn-v1.md), written in Lua.
--
-- Frames (spec §4): an 8-byte header -- magic ca 1e, type (u16 BE), length
-- (u32 BE) -- then `length` bytes of protobuf. This dissector reassembles
-- frames across TCP segments, shows the header with the type's registry name,
-- flags headers that fail the receiver's checks of §4.2 (expert info), and
-- hands each payload to Wireshark's protobuf dissector with the message type
-- of proto/cairn.proto, so that every field is decoded by name. The fixed
-- layouts carried inside `bytes` fields -- the 96-byte block header (§9.1),
-- entries (§9.2) and manifests (§11.2) -- are decoded here, through the
-- protobuf dissector's "protobuf_field" table.
--
-- Use (see README.md):
--   tshark -X lua_script:cairn.lua \
--          -o 'uat:protobuf_search_paths:"/usr/share/cairn/proto","TRUE"' -r capture.pcap
-- TCP port 7317 is registered, and a heuristic claims any TCP stream that
-- opens with a Cairn header of a registered type; else Decode As... CAIRN, or
-- -d tcp.port==PORT,cairn. TLS sessions decode with a key log
-- (SSLKEYLOGFILE, -o tls.keylog_file:FILE); TLS with ALPN "cairn/1" comes
-- here by itself.

local cairn = Proto("cairn", "Cairn peer-to-peer protocol")

local HEADER_LEN = 8
local HARD_MAX = 16777216 -- [FRM-9]

-- The type registry of §4.3: name and per-type cap.
local registry = {
    [0x0001] = { "Hello", 1024 },
    [0x0002] = { "Auth", 128 },
    [0x0003] = { "Error", 1024 },
    [0x0004] = { "Ping", 32 },
    [0x0005] = { "Pong", 32 },
    [0x0006] = { "NotFound", 32 },
    [0x0010] = { "GetHeaders", 4096 },
    [0x0011] = { "Headers", 262144 },
    [0x0012] = { "GetBlock", 64 },
    [0x0013] = { "Block", 2162688 },
    [0x0014] = { "Announce", 128 },
    [0x0015] = { "SubmitEntry", 65600 },
    [0x0016] = { "EntryAck", 64 },
    [0x0017] = { "Entries", 1114112 },
    [0x0020] = { "GetManifest", 64 },
    [0x0021] = { "Manifest", 8192 },
    [0x0022] = { "GetChunk", 64 },
    [0x0023] = { "Chunk", 1052672 },
    [0x0030] = { "GetPeers", 32 },
    [0x0031] = { "Peers", 65536 },
}
local type_names = {}
for t, r in pairs(registry) do
    type_names[t] = r[1]
end

local function type_name(t)
    if registry[t] then
        return registry[t][1]
    elseif t >= 0x8000 then
        return "Extension"
    end
    return "Unknown"
end

local pf = {
    magic = ProtoField.uint16("cairn.magic", "Magic", base.HEX),
    type = ProtoField.uint16("cairn.type", "Type", base.HEX, type_names),
    length = ProtoField.uint32("cairn.length", "Length", base.DEC),
    msg = ProtoField.string("cairn.msg", "Message"),
    payload = ProtoField.bytes("cairn.payload", "Payload"),
    -- block header, §9.1
    hdr = ProtoField.none("cairn.header", "Block header"),
    hdr_version = ProtoField.uint32("cairn.header.version", "Version", base.DEC),
    hdr_height = ProtoField.uint64("cairn.header.height", "Height", base.DEC),
    hdr_time = ProtoField.uint64("cairn.header.time_ms", "Time (Unix ms)", base.DEC),
    hdr_bits = ProtoField.uint32("cairn.header.bits", "Bits", base.DEC),
    hdr_nonce = ProtoField.uint64("cairn.header.nonce", "Nonce", base.DEC),
    hdr_prev = ProtoField.bytes("cairn.header.prev_id", "Previous block ID"),
    hdr_root = ProtoField.bytes("cairn.header.entries_root", "Entries root"),
    -- entries, §9.2, and manifests, §11.2
    entry_kind = ProtoField.uint8("cairn.entry.kind", "Entry kind", base.HEX,
        { [0] = "data record", [1] = "file manifest" }),
    entry_data = ProtoField.bytes("cairn.entry.data", "Data"),
    man = ProtoField.none("cairn.manifest", "File manifest"),
    man_size = ProtoField.uint64("cairn.manifest.size", "Size", base.DEC),
    man_chunk_log2 = ProtoField.uint8("cairn.manifest.chunk_log2", "Chunk size (log2)", base.DEC),
    man_root = ProtoField.bytes("cairn.manifest.root", "Root"),
    man_name_len = ProtoField.uint8("cairn.manifest.name_len", "Name length", base.DEC),
    man_name = ProtoField.string("cairn.manifest.name", "Name"),
    text = ProtoField.string("cairn.text", "Text"),
}
cairn.fields = {}
for _, f in pairs(pf) do
    table.insert(cairn.fields, f)
end

-- The header checks of §4.2, in their order ([FRM-5]), and layout violations
-- inside bytes fields.
local ef = {
    bad_magic = ProtoExpert.new("cairn.bad_magic", "Bad magic: a receiver closes with BAD_MAGIC [FRM-6]",
        expert.group.MALFORMED, expert.severity.ERROR),
    type_zero = ProtoExpert.new("cairn.type_zero", "Type 0: a receiver closes with UNKNOWN_TYPE [FRM-7]",
        expert.group.PROTOCOL, expert.severity.ERROR),
    unknown_type = ProtoExpert.new("cairn.unknown_type",
        "Unregistered critical type: a receiver closes with UNKNOWN_TYPE [FRM-8]",
        expert.group.PROTOCOL, expert.severity.ERROR),
    too_large = ProtoExpert.new("cairn.too_large",
        "Length over 16 MiB: a receiver closes with FRAME_TOO_LARGE [FRM-9]",
        expert.group.PROTOCOL, expert.severity.ERROR),
    over_cap = ProtoExpert.new("cairn.over_cap",
        "Length over the type's cap: a receiver closes with FRAME_TOO_LARGE [FRM-11]",
        expert.group.PROTOCOL, expert.severity.ERROR),
    extension = ProtoExpert.new("cairn.extension", "Extension frame: ignorable after READY [FRM-17]",
        expert.group.COMMENTS_GROUP, expert.severity.NOTE),
    bad_header = ProtoExpert.new("cairn.bad_header", "Block header is not 96 bytes [BLK-3]",
        expert.group.MALFORMED, expert.severity.ERROR),
    bad_entry = ProtoExpert.new("cairn.bad_entry", "Entry kind is not 0x00 or 0x01 [BLK-7]",
        expert.group.MALFORMED, expert.severity.ERROR),
    bad_manifest = ProtoExpert.new("cairn.bad_manifest",
        "Manifest is not 43 + name_len bytes or not kind 0x01 [FILE-4, FILE-5]",
        expert.group.MALFORMED, expert.severity.ERROR),
}
cairn.experts = { ef.bad_magic, ef.type_zero, ef.unknown_type, ef.too_large, ef.over_cap,
    ef.extension, ef.bad_header, ef.bad_entry, ef.bad_manifest }

local protobuf = Dissector.get("protobuf")
local data = Dissector.get("data")

-- The first header check that fails, or nil ([FRM-5] order; FRM-10 needs the
-- receiver's own Hello and is left to the reader).
local function header_fault(tvb, offset)
    if tvb(offset, 2):uint() ~= 0xCA1E then
        return ef.bad_magic
    end
    local t = tvb(offset + 2, 2):uint()
    local len = tvb(offset + 4, 4):uint()
    if t == 0 then
        return ef.type_zero
    elseif t < 0x8000 and not registry[t] then
        return ef.unknown_type
    elseif len > HARD_MAX then
        return ef.too_large
    elseif registry[t] and len > registry[t][2] then
        return ef.over_cap
    end
    return nil
end

-- The PDU length for dissect_tcp_pdus. A receiver closes at a header that
-- fails its checks without reading further ([FRM-5]), so such a frame is the
-- header alone (bad magic: the rest of the segment, which has no framing).
local function frame_len(tvb, pinfo, offset)
    local fault = header_fault(tvb, offset)
    if fault == ef.bad_magic then
        return tvb:len() - offset
    elseif fault then
        return HEADER_LEN
    end
    return HEADER_LEN + tvb(offset + 4, 4):uint()
end

-- The Info column lists the frames of a packet by name: the first replaces
-- TCP's text, later ones append, and a fence after each name keeps what the
-- protobuf dissector writes from replacing it (cleared again after the call).
-- The count lives in pinfo.private, which is new for every packet (the
-- dissector is called more than once per packet when a frame completes a
-- reassembly).
local function summary(pinfo, name)
    local n = tonumber(pinfo.private["cairn_frames"] or "0") + 1
    pinfo.private["cairn_frames"] = tostring(n)
    if n > 1 then
        pinfo.cols.info:append(", " .. name)
    else
        pinfo.cols.info:set(name)
    end
    pinfo.cols.info:fence()
end

local function dissect_frame(tvb, pinfo, tree)
    pinfo.cols.protocol:set("CAIRN")
    local fault = header_fault(tvb, 0)
    local t = tvb(2, 2):uint()
    local len = tvb(4, 4):uint()
    local name = type_name(t)
    local st = tree:add(cairn, tvb(), "Cairn " .. name)
    local mi = st:add(pf.magic, tvb(0, 2))
    if fault == ef.bad_magic then
        mi:add_proto_expert_info(fault)
        summary(pinfo, "Bad magic")
        data:call(tvb, pinfo, st)
        return tvb:len()
    end
    local ti = st:add(pf.type, tvb(2, 2))
    st:add(pf.msg, tvb(2, 2), name):set_generated()
    local li = st:add(pf.length, tvb(4, 4))
    if fault == ef.type_zero or fault == ef.unknown_type then
        ti:add_proto_expert_info(fault)
    elseif fault then
        li:add_proto_expert_info(fault)
    end
    if fault then
        summary(pinfo, name .. " (fails the header checks)")
        return HEADER_LEN
    end
    st:append_text(string.format(", %u-byte payload", len))
    summary(pinfo, name)
    if len > 0 then
        local payload = tvb(HEADER_LEN, len):tvb()
        if registry[t] and protobuf then
            pinfo.private["pb_msg_type"] = "message,cairn.v1." .. name
            protobuf:call(payload, pinfo, st)
        else
            if t >= 0x8000 then
                ti:add_proto_expert_info(ef.extension)
            end
            st:add(pf.payload, tvb(HEADER_LEN, len))
        end
    elseif t >= 0x8000 then
        ti:add_proto_expert_info(ef.extension)
    end
    -- the protobuf dissector writes its own Info and protocol columns
    pinfo.cols.protocol:set("CAIRN")
    pinfo.cols.info:set("")
    return HEADER_LEN + len
end

function cairn.dissector(tvb, pinfo, tree)
    dissect_tcp_pdus(tvb, tree, HEADER_LEN, frame_len, dissect_frame, true)
    return tvb:len()
end

-- ---- fixed layouts inside bytes fields -------------------------------------

local block_header = Proto("cairn.blockheader", "Cairn block header")
function block_header.dissector(tvb, pinfo, tree)
    local st = tree:add(pf.hdr, tvb())
    if tvb:len() ~= 96 then
        st:add_proto_expert_info(ef.bad_header)
        return tvb:len()
    end
    st:add(pf.hdr_version, tvb(0, 4))
    st:add(pf.hdr_height, tvb(4, 8))
    st:add(pf.hdr_time, tvb(12, 8))
    st:add(pf.hdr_bits, tvb(20, 4))
    st:add(pf.hdr_nonce, tvb(24, 8))
    st:add(pf.hdr_prev, tvb(32, 32))
    st:add(pf.hdr_root, tvb(64, 32))
    st:append_text(string.format(": height %s", tvb(4, 8):uint64()))
    return 96
end

local function add_manifest(tvb, tree)
    local st = tree:add(pf.man, tvb())
    local n = tvb:len()
    if n < 43 or tvb(0, 1):uint() ~= 1 or n ~= 43 + tvb(42, 1):uint() then
        st:add_proto_expert_info(ef.bad_manifest)
        return
    end
    st:add(pf.man_size, tvb(1, 8))
    st:add(pf.man_chunk_log2, tvb(9, 1))
    st:add(pf.man_root, tvb(10, 32))
    st:add(pf.man_name_len, tvb(42, 1))
    local name = ""
    if n > 43 then
        name = tvb(43, n - 43):string(ENC_UTF_8)
        st:add(pf.man_name, tvb(43, n - 43))
    end
    -- The file ID is SHA-256 of the first 42 bytes (§11.3); Wireshark's Lua
    -- API has no hash function, so `cairn manifest` is the place to see it.
    st:append_text(string.format(": \"%s\", %s bytes", name, tvb(1, 8):uint64()))
end

local entry = Proto("cairn.entry", "Cairn entry")
function entry.dissector(tvb, pinfo, tree)
    if tvb:len() == 0 then
        return 0
    end
    local kind = tvb(0, 1):uint()
    local ki = tree:add(pf.entry_kind, tvb(0, 1))
    if kind == 0 then
        if tvb:len() > 1 then
            tree:add(pf.entry_data, tvb(1))
        end
    elseif kind == 1 then
        add_manifest(tvb, tree)
    else
        ki:add_proto_expert_info(ef.bad_entry)
    end
    return tvb:len()
end

-- Bytes fields that hold text for humans (Hello.user_agent, Error.message).
local text = Proto("cairn.text", "Cairn text")
function text.dissector(tvb, pinfo, tree)
    tree:add(pf.text, tvb())
    return tvb:len()
end

local manifest = Proto("cairn.manifest_entry", "Cairn manifest")
function manifest.dissector(tvb, pinfo, tree)
    add_manifest(tvb, tree)
    return tvb:len()
end

-- ---- registration ------------------------------------------------------------

local fields = DissectorTable.get("protobuf_field")
for _, f in ipairs({ "cairn.v1.Headers.headers", "cairn.v1.Block.header", "cairn.v1.Announce.header" }) do
    fields:add(f, block_header)
end
for _, f in ipairs({ "cairn.v1.Block.entries", "cairn.v1.SubmitEntry.entry", "cairn.v1.Entries.entries" }) do
    fields:add(f, entry)
end
fields:add("cairn.v1.Manifest.manifest", manifest)
fields:add("cairn.v1.Hello.user_agent", text)
fields:add("cairn.v1.Error.message", text)

DissectorTable.get("tcp.port"):add(7317, cairn)
-- TLS sessions that negotiated ALPN "cairn/1" ([TLS-*]), once decrypted
local alpn = DissectorTable.get("tls.alpn")
if alpn then
    alpn:add("cairn/1", cairn)
end

-- Any other port: a TCP stream whose first bytes are a Cairn header of a
-- registered type (a session starts with Hello) is Cairn, both directions.
local function heuristic(tvb, pinfo, tree)
    if tvb:len() < HEADER_LEN or tvb(0, 2):uint() ~= 0xCA1E or not registry[tvb(2, 2):uint()] then
        return false
    end
    pinfo.conversation = cairn
    cairn.dissector(tvb, pinfo, tree)
    return true
end
cairn:register_heuristic("tcp", heuristic)

-- Reading and overriding TaskMessage fields without decoding (wire-protocol.md §13.4).
-- Protobuf keeps the last value of a repeated scalar field and merges repeated map entries,
-- so appending a field's bytes overrides it for Go's and Python's decoders alike.
local function pb_read_varint(s, pos)
  local value, scale = 0, 1
  while true do
    local byte = string.byte(s, pos)
    if byte == nil then
      return nil, pos
    end
    value = value + (byte % 128) * scale
    pos = pos + 1
    if byte < 128 then
      return value, pos
    end
    scale = scale * 128
  end
end

local function pb_varint(value)
  local out = {}
  repeat
    local byte = value % 128
    value = (value - byte) / 128
    if value > 0 then
      byte = byte + 128
    end
    out[#out + 1] = string.char(byte)
  until value == 0
  return table.concat(out)
end

-- The last value of varint field `number` in `s` (0 when absent).
local function pb_last_varint(s, number)
  local pos, found = 1, 0
  while pos <= #s do
    local key
    key, pos = pb_read_varint(s, pos)
    if key == nil then
      break
    end
    local wire = key % 8
    if wire == 0 then
      local value
      value, pos = pb_read_varint(s, pos)
      if (key - wire) / 8 == number then
        found = value
      end
    elseif wire == 2 then
      local length
      length, pos = pb_read_varint(s, pos)
      pos = pos + (length or 0)
    elseif wire == 1 then
      pos = pos + 8
    elseif wire == 5 then
      pos = pos + 4
    else
      break
    end
  end
  return found or 0
end

local function pb_field_varint(number, value)
  return pb_varint(number * 8) .. pb_varint(value)
end

local function pb_field_bytes(number, data)
  return pb_varint(number * 8 + 2) .. pb_varint(#data) .. data
end

-- TaskMessage field numbers (wire-protocol.md §3.1).
local PB_ERROR_MSG, PB_LAST_FAILED_AT, PB_RETENTION, PB_HEADERS = 7, 11, 12, 15

-- `msg` with retention at least `min_retention` and header `name` = `value`; unchanged when
-- it already has both (a found entry is only taken as a hint: appending it again is harmless).
local function pb_mark_dependency(msg, min_retention, name, value)
  if pb_last_varint(msg, PB_RETENTION) < tonumber(min_retention) then
    msg = msg .. pb_field_varint(PB_RETENTION, tonumber(min_retention))
  end
  local entry = pb_field_bytes(PB_HEADERS, pb_field_bytes(1, name) .. pb_field_bytes(2, value))
  if not string.find(msg, entry, 1, true) then
    msg = msg .. entry
  end
  return msg
end

-- `msg` with error_msg `text` and last_failed_at `now`.
local function pb_mark_failed(msg, text, now)
  return msg .. pb_field_bytes(PB_ERROR_MSG, text) .. pb_field_varint(PB_LAST_FAILED_AT, now)
end

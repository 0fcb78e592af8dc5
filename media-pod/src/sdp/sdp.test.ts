import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildLocalSdp, describeRemote, offerCodecs, payloadTypeMap, selectAnswerCodecs } from './negotiate.ts';
import { codecsOf, parseSdp, SdpError, serializeSdp } from './sdp.ts';

// Teams-style SDES offer (D6.2: _32 on tag 0 and _80 on tag 1; duplicate PT 101 to check de-duplication).
export const TEAMS_OFFER = [
  'v=0',
  'o=- 0 0 IN IP4 52.112.1.1',
  's=session',
  'c=IN IP4 52.112.1.1',
  'b=CT:10000000',
  't=0 0',
  'm=audio 52000 RTP/SAVP 104 9 103 111 18 0 8 97 101 13 118 101',
  'c=IN IP4 52.112.1.1',
  'a=rtcp:52001',
  'a=ice-ufrag:Ws8o',
  'a=ice-pwd:h8PChsyBp4CMyZWYRi7fxtjd',
  'a=candidate:1 1 UDP 2130706431 52.112.1.1 52000 typ host',
  'a=crypto:0 AES_CM_128_HMAC_SHA1_32 inline:V/Lr6Lsvhad/crSB9kCQ28jrYDxR2Yfk5bXryH5V|2^31',
  'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:Q3Vqt6aU8XgWTMM2ghOAj6vVkOeOsUHwUsOOS8qA|2^31|1:1',
  'a=label:main-audio',
  'a=sendrecv',
  'a=rtpmap:104 SILK/16000',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:103 SILK/8000',
  'a=rtpmap:111 SIREN/16000',
  'a=fmtp:111 bitrate=16000',
  'a=rtpmap:18 G729/8000',
  'a=fmtp:18 annexb=no',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:97 RED/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=rtpmap:13 CN/8000',
  'a=rtpmap:118 CN/16000',
  'a=ptime:20',
  'm=video 0 RTP/SAVP 122',
  '',
].join('\r\n');

describe('SDP parse/serialize', () => {
  it('round-trips and reads codecs without duplicate payload types', () => {
    const sdp = parseSdp(TEAMS_OFFER);
    assert.equal(sdp.media.length, 2);
    const again = parseSdp(serializeSdp(sdp));
    assert.deepEqual(again, sdp);
    const codecs = codecsOf(sdp.media[0]!);
    assert.equal(codecs.filter((c) => c.pt === 101).length, 1);
    assert.deepEqual(
      codecs.map((c) => c.pt),
      [104, 9, 103, 111, 18, 0, 8, 97, 101, 13, 118],
    );
    assert.equal(codecs.find((c) => c.pt === 101)?.fmtp, '0-16');
  });

  it('rejects garbage', () => {
    assert.throws(() => parseSdp('hello'), SdpError);
    assert.throws(() => parseSdp('v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n'), SdpError);
  });

  it('describes the remote stream: picks _80 over _32, reads ICE, rtcp port and MKI', () => {
    const r = describeRemote(parseSdp(TEAMS_OFFER));
    assert.equal(r.address, '52.112.1.1');
    assert.equal(r.port, 52_000);
    assert.equal(r.rtcpPort, 52_001);
    assert.equal(r.srtp, true);
    assert.equal(r.crypto[0]?.suite, 'AES_CM_128_HMAC_SHA1_80');
    assert.equal(r.crypto[0]?.tag, 1);
    assert.equal(r.crypto[0]?.keys[0]?.mkiLength, 1);
    assert.deepEqual(r.ice, { ufrag: 'Ws8o', pwd: 'h8PChsyBp4CMyZWYRi7fxtjd' });
    assert.equal(r.ptime, '20');
  });

  it('builds our SDP: our address/port, one crypto line, ICE-lite, rtcp-mux, rejected extra streams', () => {
    const offer = parseSdp(TEAMS_OFFER);
    const r = describeRemote(offer);
    const text = serializeSdp(
      buildLocalSdp(offer, r.audioIndex, {
        origin: '- 42 1 IN IP4 203.0.113.5',
        address: '203.0.113.5',
        addrType: 'IP4',
        port: 40_000,
        rtcpPort: 40_001,
        rtcpMux: true,
        crypto: { tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80', key: Buffer.alloc(16, 1), salt: Buffer.alloc(14, 2) },
        ice: { ufrag: 'abcdefgh', pwd: 'p'.repeat(24) },
        codecs: r.codecs.filter((c) => [0, 101].includes(c.pt)),
        direction: 'sendrecv',
        ptime: '20',
        maxptime: null,
      }),
    );
    assert.match(text, /\r\na=ice-lite\r\n/);
    assert.match(text, /\r\nm=audio 40000 RTP\/SAVP 0 101\r\n/);
    assert.match(text, /\r\na=rtcp:40000\r\na=rtcp-mux\r\n/);
    assert.equal(text.match(/a=crypto:/g)?.length, 1);
    assert.match(text, /a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:\S+\|2\^31\r\n/);
    assert.match(text, /a=candidate:1 1 UDP 2130706431 203.0.113.5 40000 typ host\r\n/);
    assert.equal(text.match(/a=candidate/g)?.length, 1);
    assert.match(text, /\r\nm=video 0 RTP\/SAVP 122\r\n/);
    assert.match(text, /\r\nc=IN IP4 203.0.113.5\r\n/);
  });
});

describe('codec negotiation', () => {
  const carrier = codecsOf(
    parseSdp(
      'v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0 96\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n',
    ).media[0]!,
  );

  it('adds the G.711 sibling when transcoding is allowed', () => {
    assert.deepEqual(
      offerCodecs(carrier, true).map((c) => c.pt),
      [0, 8, 96],
    );
    assert.deepEqual(
      offerCodecs(carrier, false).map((c) => c.pt),
      [0, 96],
    );
  });

  it('answers in the offerer numbering and maps telephone-event payload types per direction', () => {
    const teamsAnswer = [
      { pt: 0, name: 'PCMU', rate: 8000, channels: 1, fmtp: null },
      { pt: 101, name: 'telephone-event', rate: 8000, channels: 1, fmtp: '0-16' },
    ];
    const sel = selectAnswerCodecs(carrier, teamsAnswer, false);
    assert.deepEqual(
      sel.codecs.map((c) => c.pt),
      [0, 96],
    );
    assert.equal(sel.transcode, null);
    const map = payloadTypeMap(sel.codecs, teamsAnswer)!; // carrier → Teams
    assert.equal(map[96], 101);
    assert.equal(map[0], 0);
    assert.equal(payloadTypeMap(carrier, carrier), null);
  });

  it('falls back to PCMU⇄PCMA transcoding, or fails without a common codec', () => {
    const pcma = [{ pt: 8, name: 'PCMA', rate: 8000, channels: 1, fmtp: null }];
    const sel = selectAnswerCodecs(carrier, pcma, true);
    assert.deepEqual(
      sel.codecs.map((c) => c.name),
      ['PCMU'],
    );
    assert.equal(sel.transcode?.answererCodec.name, 'PCMA');
    assert.throws(() => selectAnswerCodecs(carrier, pcma, false), SdpError);
  });
});

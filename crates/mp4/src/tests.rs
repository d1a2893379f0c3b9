//! Every box written and parsed back to the same value, and malformed input
//! refused with an error, never a panic.

use crate::cenc::{self, Scheme};
use crate::*;

fn avcc() -> RawBox {
    // version 1, High profile, level 3.0, 4-byte lengths, one SPS, one PPS.
    RawBox {
        box_type: *b"avcC",
        body: vec![
            1, 0x64, 0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1e, 1, 0, 2, 0x68, 0xee,
        ],
    }
}

pub(crate) fn init() -> InitSegment {
    let video = Trak {
        tkhd: Tkhd {
            track_id: 1,
            duration: 0,
            audio: false,
            width: 640,
            height: 360,
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: 15360,
                duration: 0,
                language: *b"und",
            },
            hdlr: Hdlr {
                handler: *b"vide",
                name: "shieldpack video".into(),
            },
            minf: Minf {
                audio: false,
                stbl: Stbl {
                    stsd: Stsd {
                        entries: vec![SampleEntry::Visual {
                            format: *b"avc1",
                            width: 640,
                            height: 360,
                            config: vec![avcc()],
                            sinf: None,
                        }],
                    },
                },
            },
        },
    };
    let audio = Trak {
        tkhd: Tkhd {
            track_id: 2,
            duration: 0,
            audio: true,
            width: 0,
            height: 0,
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: 48000,
                duration: 0,
                language: *b"eng",
            },
            hdlr: Hdlr {
                handler: *b"soun",
                name: "shieldpack audio".into(),
            },
            minf: Minf {
                audio: true,
                stbl: Stbl {
                    stsd: Stsd {
                        entries: vec![SampleEntry::Audio {
                            format: *b"mp4a",
                            channels: 2,
                            sample_size: 16,
                            sample_rate: 48000,
                            esds: Some(Esds {
                                object_type: 0x40,
                                max_bitrate: 128000,
                                avg_bitrate: 128000,
                                decoder_specific: vec![0x11, 0x90],
                            }),
                            config: vec![],
                            sinf: None,
                        }],
                    },
                },
            },
        },
    };
    InitSegment {
        ftyp: Ftyp(Brands {
            major: *b"cmf2",
            minor: 0,
            compatible: vec![*b"cmfc", *b"iso6", *b"cmf2"],
        }),
        moov: Moov {
            mvhd: Mvhd {
                timescale: 1000,
                duration: 0,
                next_track_id: 3,
            },
            traks: vec![video, audio],
            mvex: Mvex {
                trex: vec![
                    Trex {
                        track_id: 1,
                        default_sample_duration: 0,
                        default_sample_size: 0,
                        default_sample_flags: 0,
                    },
                    Trex {
                        track_id: 2,
                        default_sample_duration: 1024,
                        default_sample_size: 0,
                        default_sample_flags: 0,
                    },
                ],
            },
            pssh: vec![],
        },
    }
}

/// A segment: 2 video samples (an IDR with SPS in front, then a P slice)
/// and 3 audio samples.
pub(crate) fn segment() -> MediaSegment {
    let mut idr = vec![0, 0, 0, 4, 0x67, 0x64, 0, 0x1e, 0, 0, 0, 100, 0x65];
    idr.extend((0..99u8).map(|i| i.wrapping_mul(7)));
    let mut p = vec![0, 0, 0, 50, 0x41];
    p.extend((0..49u8).map(|i| i.wrapping_mul(3)));
    let audio: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 21 + usize::from(i)]).collect();
    let mut data = idr.clone();
    data.extend(&p);
    for a in &audio {
        data.extend(a);
    }
    let vs = |size: usize, flags: u32, cto: i32| TrunSample {
        duration: 512,
        size: size as u32,
        flags,
        composition_offset: cto,
    };
    let mut moof = Moof {
        mfhd: Mfhd { sequence: 1 },
        trafs: vec![
            Traf {
                tfhd: Tfhd::new(1),
                tfdt: Tfdt {
                    base_media_decode_time: 0,
                },
                trun: Trun {
                    data_offset: 0,
                    samples: vec![
                        vs(idr.len(), SYNC_SAMPLE, 1024),
                        vs(p.len(), NON_SYNC_SAMPLE, -512),
                    ],
                },
                sbgp: None,
                sgpd: None,
                saiz: None,
                saio: None,
                senc: None,
            },
            Traf {
                tfhd: Tfhd::new(2),
                tfdt: Tfdt {
                    base_media_decode_time: 0,
                },
                trun: Trun {
                    data_offset: 0,
                    samples: audio
                        .iter()
                        .map(|a| TrunSample {
                            duration: 1024,
                            size: a.len() as u32,
                            flags: SYNC_SAMPLE,
                            composition_offset: 0,
                        })
                        .collect(),
                },
                sbgp: None,
                sgpd: None,
                saiz: None,
                saio: None,
                senc: None,
            },
        ],
    };
    moof.fix_offsets();
    MediaSegment {
        styp: Some(Styp(Brands {
            major: *b"msdh",
            minor: 0,
            compatible: vec![*b"msdh", *b"msix", *b"cmfs"],
        })),
        moof,
        mdat: Mdat { data },
    }
}

fn round_trip<B: Mp4Box + PartialEq + std::fmt::Debug>(b: &B) {
    let bytes = b.to_bytes();
    assert_eq!(&bytes[4..8], &B::TYPE);
    assert_eq!(
        u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize,
        bytes.len()
    );
    let back = B::parse(&bytes).unwrap();
    assert_eq!(&back, b);
    assert_eq!(back.to_bytes(), bytes);
    // Every truncation is an error, not a panic.
    for n in 0..bytes.len() {
        let mut cut = bytes[..n].to_vec();
        if n >= 4 {
            cut[..4].copy_from_slice(&(n as u32).to_be_bytes());
        }
        let _ = B::parse(&cut);
    }
}

#[test]
fn every_box_round_trips() {
    let mut i = init();
    round_trip(&i.ftyp);
    round_trip(&i.moov.mvhd);
    for t in &i.moov.traks {
        round_trip(t);
        round_trip(&t.tkhd);
        round_trip(&t.mdia);
        round_trip(&t.mdia.mdhd);
        round_trip(&t.mdia.hdlr);
        round_trip(&t.mdia.minf);
        round_trip(&t.mdia.minf.stbl);
        round_trip(&t.mdia.minf.stbl.stsd);
    }
    round_trip(&i.moov.mvex);
    round_trip(&i.moov);
    let pssh = Pssh {
        system_id: [0x10; 16],
        kids: vec![[1; 16], [2; 16]],
        data: vec![],
    };
    round_trip(&pssh);
    round_trip(&Pssh {
        system_id: [0xed; 16],
        kids: vec![],
        data: vec![8, 1, 0x12, 0x10],
    });
    cenc::protect_init(&mut i, Scheme::Cenc, [9; 16], None, &[pssh.to_bytes()]).unwrap();
    round_trip(&i.moov);
    let sinf = i.moov.traks[0].entry().unwrap().sinf().unwrap().clone();
    round_trip(&sinf);
    round_trip(&sinf.frma);
    round_trip(&sinf.schm);
    round_trip(&sinf.tenc);
    round_trip(&Tenc {
        crypt_byte_block: 1,
        skip_byte_block: 9,
        is_protected: true,
        per_sample_iv_size: 0,
        kid: [3; 16],
        constant_iv: Some([4; 16]),
    });
    assert_eq!(InitSegment::parse(&i.to_bytes()).unwrap(), i);

    let mut s = segment();
    cenc::encrypt_segment(&mut s, &i, Scheme::Cenc, &[7; 16], [8; 16], [0; 16], 3).unwrap();
    round_trip(&s.moof);
    round_trip(&s.moof.mfhd);
    for t in &s.moof.trafs {
        round_trip(t);
        round_trip(&t.tfhd);
        round_trip(&t.tfdt);
        round_trip(&t.trun);
        round_trip(t.saiz.as_ref().unwrap());
        round_trip(t.saio.as_ref().unwrap());
        round_trip(t.senc.as_ref().unwrap());
        // The KID differs from tenc's: a seig group names it.
        round_trip(t.sbgp.as_ref().unwrap());
        round_trip(t.sgpd.as_ref().unwrap());
        assert_eq!(t.seig().unwrap().kid, [8; 16]);
    }
    round_trip(s.styp.as_ref().unwrap());
    round_trip(&s.mdat);
    assert_eq!(MediaSegment::parse(&s.to_bytes()).unwrap(), s);
}

#[test]
fn cenc_encrypts_and_decrypts_every_sample() {
    let clear_init = init();
    let mut i = clear_init.clone();
    cenc::protect_init(&mut i, Scheme::Cenc, [9; 16], None, &[]).unwrap();
    let clear = segment();
    let mut s = clear.clone();
    let key = [0x2b; 16];
    cenc::encrypt_segment(&mut s, &i, Scheme::Cenc, &key, [9; 16], [0; 16], 5).unwrap();
    let bytes = s.to_bytes();
    let mut back = MediaSegment::parse(&bytes).unwrap();
    assert_ne!(back.mdat.data, clear.mdat.data);
    // NAL length fields and headers stay clear: the IDR's SPS in front too.
    assert_eq!(&back.mdat.data[..13], &clear.mdat.data[..13]);
    cenc::decrypt_segment(&mut back, &i, &key).unwrap();
    assert_eq!(back.mdat.data, clear.mdat.data);
    // A wrong key gives other bytes; a damaged saio is caught.
    let mut wrong = MediaSegment::parse(&bytes).unwrap();
    cenc::decrypt_segment(&mut wrong, &i, &[0; 16]).unwrap();
    assert_ne!(wrong.mdat.data, clear.mdat.data);
    let mut bad = MediaSegment::parse(&bytes).unwrap();
    bad.moof.trafs[0].saio = Some(Saio { offsets: vec![1] });
    assert!(cenc::decrypt_segment(&mut bad, &i, &key).is_err());
    // Audio IVs continue the video's count: none repeats in the segment.
    let ivs: Vec<_> = s
        .moof
        .trafs
        .iter()
        .flat_map(|t| {
            t.senc
                .as_ref()
                .unwrap()
                .samples
                .iter()
                .map(|a| a.iv.clone())
        })
        .collect();
    let mut d = ivs.clone();
    d.sort();
    d.dedup();
    assert_eq!(d.len(), ivs.len());
}

#[test]
fn a_fragment_encrypted_in_place_is_the_segment_encrypted_whole() {
    // What the packager writes (new styp + moof, then the mdat as it lay in
    // the muxer's buffer) is byte for byte `encrypt_segment`'s segment.
    // (cenc: `segment()`'s slices are not real enough for cbcs's slice
    // header parser; the CLI tests compare cbcs packages against FFmpeg.)
    let mut i = init();
    cenc::protect_init(&mut i, Scheme::Cenc, [9; 16], None, &[]).unwrap();
    let clear = segment().to_bytes();
    let mut whole = MediaSegment::parse(&clear).unwrap();
    // A rotated KID, so the moof gains a seig group as well.
    cenc::encrypt_segment(
        &mut whole,
        &i,
        Scheme::Cenc,
        &[0x2b; 16],
        [8; 16],
        [0; 16],
        5,
    )
    .unwrap();

    let mut buf = clear.clone();
    let f = MediaSegment::parse_fragment(&buf).unwrap();
    assert_eq!(&buf[f.payload.clone()], &segment().mdat.data[..]);
    assert_eq!(f.mdat.end, buf.len());
    assert_eq!(f.mdat.start + 8, f.payload.start);
    let mut moof = f.moof;
    cenc::encrypt_fragment(
        &mut moof,
        &mut buf[f.payload],
        &i,
        Scheme::Cenc,
        &[0x2b; 16],
        [8; 16],
        [0; 16],
        5,
    )
    .unwrap();
    let mut out = Vec::new();
    f.styp.as_ref().unwrap().write(&mut out);
    moof.write(&mut out);
    out.extend_from_slice(&buf[f.mdat]);
    assert_eq!(out, whole.to_bytes());
    assert_ne!(out, clear);
}

#[test]
fn openssl_style_ctr_matches_a_known_vector() {
    // NIST SP 800-38A F.5.1 CTR-AES128.Encrypt, block 1.
    use aes::cipher::{KeyIvInit, StreamCipher};
    let key: [u8; 16] = hex::decode("2b7e151628aed2a6abf7158809cf4f3c")
        .unwrap()
        .try_into()
        .unwrap();
    let iv: [u8; 16] = hex::decode("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
        .unwrap()
        .try_into()
        .unwrap();
    let mut b = hex::decode("6bc1bee22e409f96e93d7e117393172a").unwrap();
    ctr::Ctr128BE::<aes::Aes128>::new((&key).into(), (&iv).into()).apply_keystream(&mut b);
    assert_eq!(hex::encode(b), "874d6191b620e3261bef6864990db6ce");
}

#[test]
fn malformed_boxes_are_errors() {
    assert!(RawBox::parse_all(&[0, 0, 0, 4, b'f']).is_err());
    assert!(RawBox::parse_all(&[0, 0, 0, 200, b'm', b'o', b'o', b'v']).is_err());
    assert!(Moov::parse(
        &Mvhd {
            timescale: 1,
            duration: 0,
            next_track_id: 2
        }
        .to_bytes()
    )
    .is_err());
    let e = MediaSegment::parse(&init().to_bytes()).unwrap_err();
    assert!(e.to_string().contains("moof"), "{e}");
}

#[test]
fn mutated_segments_and_inits_are_errors_or_values_never_panics() {
    // xorshift64*, seeded and printed, so a failure can be replayed.
    let seed: u64 = 0x5eed_cafe_f00d_0001;
    println!("mutation seed {seed:#x}");
    let mut x = seed;
    let mut next = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut init = init();
    cenc::protect_init(&mut init, Scheme::Cenc, [9; 16], None, &[]).unwrap();
    let mut seg = segment();
    cenc::encrypt_segment(&mut seg, &init, Scheme::Cenc, &[7; 16], [8; 16], [0; 16], 1).unwrap();
    let (ib, sb) = (init.to_bytes(), seg.to_bytes());
    for round in 0..4000 {
        let mut s = sb.clone();
        let mut i = ib.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % s.len();
            s[at] = next() as u8;
            let at = (next() as usize) % i.len();
            i[at] = next() as u8;
        }
        if round % 7 == 0 {
            s.truncate((next() as usize) % s.len());
        }
        let parsed_init = InitSegment::parse(&i).ok();
        if let Ok(mut m) = MediaSegment::parse(&s) {
            let _ = cenc::decrypt_segment(&mut m, parsed_init.as_ref().unwrap_or(&init), &[7; 16]);
            let _ = cenc::tracks(parsed_init.as_ref().unwrap_or(&init));
        }
    }
}

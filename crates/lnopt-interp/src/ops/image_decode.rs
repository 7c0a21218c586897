//! `ImageDecoder`: an encoded image (a 1-D uint8 tensor of the file's bytes) to an
//! `[H, W, C]` uint8 tensor, `C` = 3 for `RGB` / `BGR`, 1 for `Grayscale`.
//!
//! Only what decodes to exactly the reference's pixels is accepted: PNG, BMP, PNM and TIFF
//! (lossless, so any correct decoder gives the same pixels; TIFF only with its lossless
//! compressions) and WebP (VP8 decoding is
//! specified to the bit; the `image` crate's WebP decoder matches the reference on the
//! standard's test). JPEG is refused: the standard leaves the inverse DCT and the chroma
//! upsampling to the decoder, and the `image` crate's decoder differs from the reference's
//! (libjpeg through Pillow) by up to 2 levels on the standard's tests. Formats the `image`
//! crate does not know (JPEG 2000 …) are refused. So are colour conversions the spec does not
//! pin down (RGB to Grayscale, alpha, 16-bit samples): an 8-bit RGB image decodes to `RGB` /
//! `BGR`, an 8-bit grayscale image to `Grayscale`.

use crate::arr::{Arr, MAX_ELEMENTS};
use crate::call::Call;
use crate::error::{bail, OpResult};
use image::{ColorType, ImageFormat};
use lnopt_ir::DType;

/// The channel order asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PixelFormat {
    Rgb,
    Bgr,
    Grayscale,
}

/// The formats decoded, or why a format is refused.
fn accepted(format: ImageFormat) -> OpResult<()> {
    match format {
        ImageFormat::Png
        | ImageFormat::Bmp
        | ImageFormat::Pnm
        | ImageFormat::Tiff
        | ImageFormat::WebP => Ok(()),
        ImageFormat::Jpeg => bail!(
            "JPEG images are refused: JPEG leaves the inverse DCT and chroma upsampling to the \
             decoder, and no decoder here reproduces the reference's pixels exactly"
        ),
        other => bail!("{other:?} images are not supported"),
    }
}

/// TIFF compressions that lose nothing: none, LZW, deflate (two codes), PackBits.
const TIFF_LOSSLESS: [u16; 5] = [1, 5, 8, 32946, 32773];

/// Refuses a TIFF whose first image (the one decoded) is not compressed losslessly (JPEG in
/// TIFF has the same problem as JPEG).
fn tiff_lossless(bytes: &[u8]) -> OpResult<()> {
    let compression = tiff::decoder::Decoder::new(std::io::Cursor::new(bytes))
        .and_then(|mut d| d.find_tag_unsigned::<u16>(tiff::tags::Tag::Compression));
    match compression {
        Ok(None) => Ok(()),
        Ok(Some(c)) if TIFF_LOSSLESS.contains(&c) => Ok(()),
        Ok(Some(c)) => bail!(
            "TIFF compression {c} is refused: only the lossless ones (none, LZW, deflate, \
             PackBits) decode exactly"
        ),
        Err(e) => bail!("cannot read the TIFF image: {e}"),
    }
}

/// Decodes `bytes` (checking the format first), with allocations bounded by the interpreter's
/// value size limit.
fn decode(bytes: &[u8]) -> OpResult<image::DynamicImage> {
    let format = match image::guess_format(bytes) {
        Ok(f) => f,
        Err(_) => bail!(
            "the encoded image's format is not recognised (PNG, BMP, PNM, TIFF and WebP are \
             supported; JPEG 2000 and others are not)"
        ),
    };
    accepted(format)?;
    if format == ImageFormat::Tiff {
        tiff_lossless(bytes)?;
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_ELEMENTS as u64);
    reader.limits(limits);
    match reader.decode() {
        Ok(img) => Ok(img),
        Err(e) => bail!("cannot decode the {format:?} image: {e}"),
    }
}

/// `ImageDecoder(encoded_stream)` with `pixel_format` (default `RGB`).
pub(crate) fn image_decoder(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    if x.dtype != DType::U8 || x.rank() != 1 {
        bail!(
            "encoded_stream must be a 1-D uint8 tensor, got {} of shape {:?}",
            x.dtype,
            x.shape
        );
    }
    let pf = match c.string("pixel_format", "RGB")?.as_str() {
        "RGB" => PixelFormat::Rgb,
        "BGR" => PixelFormat::Bgr,
        "Grayscale" => PixelFormat::Grayscale,
        other => bail!("pixel_format '{other}' is not one of RGB, BGR, Grayscale"),
    };
    let bytes: Vec<u8> = x
        .int_values("encoded_stream")?
        .iter()
        .map(|&b| b as u8)
        .collect();
    let img = decode(&bytes)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (channels, pixels): (usize, Vec<u8>) = match (img.color(), pf) {
        (ColorType::Rgb8, PixelFormat::Rgb) => (3, img.into_bytes()),
        (ColorType::Rgb8, PixelFormat::Bgr) => {
            let mut p = img.into_bytes();
            p.chunks_exact_mut(3).for_each(|px| px.swap(0, 2));
            (3, p)
        }
        (ColorType::L8, PixelFormat::Grayscale) => (1, img.into_bytes()),
        (colour, pf) => bail!(
            "an image of colour type {colour:?} decoded to {pf:?} is not implemented (the \
             spec does not fix the conversion)"
        ),
    };
    let shape = vec![h, w, channels];
    if crate::arr::checked_numel(&shape)? != pixels.len() {
        bail!(
            "internal: decoded {} bytes for shape {shape:?}",
            pixels.len()
        );
    }
    Ok(Arr::ints(
        DType::U8,
        shape,
        pixels.into_iter().map(i64::from).collect(),
    ))
}
